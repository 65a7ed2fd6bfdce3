/**
 * The dashboard: the static files `packages/web` builds (`packages/web/dist`), served at
 * `/` by the same server, so there is nothing else to run. Paths without a file are the
 * dashboard's own pages (`/nodes/edge-0001`) and get `index.html` (history routing);
 * anything under `/v1/` stays the API's, with the API's 404. Hashed files under `/assets/`
 * are cached for a year; everything else is revalidated, so a new build shows at once.
 * A path is resolved inside the dist folder and refused if it would leave it.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api } from '../http/app.js';

/** Where `npm run build -w packages/web` writes; `EDGEFLEET_WEB_DIST` points elsewhere. */
export function defaultWebDist(): string {
  // src/routes/web.ts and dist/routes/web.js both sit three levels below packages/.
  return process.env.EDGEFLEET_WEB_DIST ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../web/dist');
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.webmanifest': 'application/manifest+json',
};

/**
 * The page may load only its own scripts and styles and talk only to this server. uPlot
 * and React set inline styles through the DOM, which `style-src 'unsafe-inline'` allows.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>edgefleet</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>The dashboard is not built</h1>
<p>This server found no <code>packages/web/dist/index.html</code>. Build it with
<code>npm run build</code> (or <code>npm run build -w packages/web</code>) and reload this page.
The API works without it: see docs/API.md.</p></body></html>`;

function apiNotFound(request: FastifyRequest): EdgefleetError {
  return new EdgefleetError({
    code: 'not_found',
    status: 404,
    message: `no route ${request.method} ${request.url.split('?')[0]}`,
    hint: 'see docs/API.md for the routes',
  });
}

/** Serves the built dashboard at `/` from `distDir`. */
export function webRoutes(app: Api, distDir: string = defaultWebDist()): void {
  const root = resolve(distDir);

  const sendFile = (request: FastifyRequest, reply: FastifyReply, file: string, size: number, mtimeMs: number, immutable: boolean) => {
    const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
    const etag = `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
    void reply
      .header('content-type', type)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('etag', etag);
    if (type.startsWith('text/html')) {
      void reply.header('content-security-policy', CSP).header('referrer-policy', 'no-referrer').header('x-frame-options', 'DENY');
    }
    if (request.headers['if-none-match'] === etag) return reply.status(304).send();
    void reply.header('content-length', size);
    if (request.method === 'HEAD') return reply.send();
    return reply.send(createReadStream(file));
  };

  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    const rawPath = request.url.split('?')[0] ?? '/';
    if (rawPath.startsWith('/v1/') || rawPath === '/v1') throw apiNotFound(request);
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new EdgefleetError({ code: 'bad_request', status: 400, message: 'the path is not valid percent-encoding', hint: 'check the address' });
    }
    const index = resolve(root, 'index.html');
    if (!existsSync(index)) return reply.status(503).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    // No dotfiles, no NUL, nothing outside the dist folder (`..`, encoded or not).
    const segments = path.split('/').filter((s) => s !== '');
    const suspicious = path.includes('\0') || path.includes('\\') || segments.some((s) => s.startsWith('.'));
    const file = resolve(root, ...segments);
    if (!suspicious && file.startsWith(root + sep)) {
      const st = statSync(file, { throwIfNoEntry: false });
      if (st?.isFile()) return sendFile(request, reply, file, st.size, st.mtimeMs, segments[0] === 'assets');
    }
    // A missing file (it has an extension, or lives under /assets/) is a 404, never the page:
    // a browser asking for a script must not be handed HTML.
    if (suspicious || segments[0] === 'assets' || extname(segments.at(-1) ?? '') !== '') {
      throw new EdgefleetError({ code: 'not_found', status: 404, message: `no file ${rawPath}`, hint: 'reload the dashboard: it may have been rebuilt' });
    }
    const st = statSync(index);
    return sendFile(request, reply, index, st.size, st.mtimeMs, false);
  };

  app.get('/', serve);
  app.get('/*', serve);

  // Say where the dashboard is, or why it is not there, once the server listens.
  app.addHook('onListen', async () => {
    const addr = app.server.address();
    if (addr === null || typeof addr === 'string') return;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    if (existsSync(resolve(root, 'index.html'))) app.log.info(`dashboard: https://${host}:${addr.port}/ (sign in with an API token)`);
    else app.log.warn(`the dashboard is not built (no ${resolve(root, 'index.html')}): run npm run build`);
  });
}
