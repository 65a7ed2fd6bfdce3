/**
 * The dashboard: the static files `packages/web` builds (`packages/web/dist`), served at
 * `/` by the same server, so there is nothing else to run. Paths without a file are the
 * dashboard's own pages (`/nodes/edge-0001`) and get `index.html` (history routing);
 * anything under `/v1/` stays the API's, with the API's 404. Hashed files under `/assets/`
 * are cached for a year; everything else is revalidated, so a new build shows at once.
 * Files are sent by `@fastify/static` (types, ETag, conditional and range requests, HEAD),
 * security headers set by `@fastify/helmet`, both only in the dashboard's plugin scope.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgefleetError } from '@edgefleet/protocol';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Api } from '../http/app.js';
import type { RouteHandlers } from '../http/routes.js';

/** Where `npm run build -w packages/web` writes; `EDGEFLEET_WEB_DIST` points elsewhere. */
export function defaultWebDist(): string {
  // src/routes/web.ts and dist/routes/web.js both sit three levels below packages/.
  return process.env.EDGEFLEET_WEB_DIST ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../web/dist');
}

/** Hashed build output never changes under its name. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * The page may load only its own scripts and styles and talk only to this server. uPlot
 * and React set inline styles through the DOM, which `style-src 'unsafe-inline'` allows.
 */
const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
};

const NOT_BUILT = `<!doctype html><html lang="en"><meta charset="utf-8"><title>edgefleet</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;line-height:1.5">
<h1>The dashboard is not built</h1>
<p>This server found no <code>packages/web/dist/index.html</code>. Build it with
<code>npm run build</code> (or <code>npm run build -w packages/web</code>) and reload this page.
The API works without it: see docs/API.md.</p></body></html>`;

function apiNotFound(request: FastifyRequest): EdgefleetError {
  return new EdgefleetError({
    code: 'not_found',
    message: `no route ${request.method} ${request.url.split('?')[0]}`,
    hint: 'see docs/API.md for the routes',
  });
}

function noFile(rawPath: string): EdgefleetError {
  return new EdgefleetError({ code: 'not_found', message: `no file ${rawPath}`, hint: 'reload the dashboard: it may have been rebuilt' });
}

/**
 * Whether `path` is a file. A path the file system cannot even look up (a name longer than
 * it allows, a file used as a folder) is no file either: any visitor can send such a path,
 * and it was a 500 (found by the HTTP fuzzer).
 */
function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() === true;
  } catch {
    return false;
  }
}

/**
 * The dashboard's two routes over `distDir`. Each route's scope gets helmet's headers and
 * `reply.sendFile`; the API's routes get neither.
 */
export function webHandlers(app: Api, distDir: string = defaultWebDist()): Pick<RouteHandlers, 'dashboardIndex' | 'dashboardFiles'> {
  const root = resolve(distDir);
  const assets = resolve(root, 'assets') + sep;
  const index = resolve(root, 'index.html');

  const serve = async (request: FastifyRequest, reply: FastifyReply) => {
    const rawPath = request.url.split('?')[0] ?? '/';
    if (rawPath.startsWith('/v1/') || rawPath === '/v1') throw apiNotFound(request);
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new EdgefleetError({ code: 'bad_request', message: 'the path is not valid percent-encoding', hint: 'check the address' });
    }
    if (!existsSync(index)) return reply.status(503).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(NOT_BUILT);
    // No dotfiles, no NUL, nothing outside the dist folder (`..`, encoded or not): a 404
    // before the file system is asked (@fastify/send would refuse them too, with a 403).
    const segments = path.split('/').filter((s) => s !== '');
    if (path.includes('\0') || path.includes('\\') || segments.some((s) => s.startsWith('.'))) throw noFile(rawPath);
    const file = resolve(root, ...segments);
    if (file.startsWith(root + sep) && isFile(file)) return reply.sendFile(segments.join('/'));
    // A missing file (it has an extension, or lives under /assets/) is a 404, never the page:
    // a browser asking for a script must not be handed HTML.
    if (segments[0] === 'assets' || extname(segments.at(-1) ?? '') !== '') throw noFile(rawPath);
    return reply.sendFile('index.html');
  };

  const setup = async (web: Api): Promise<void> => {
    await web.register(fastifyHelmet, {
      contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
      frameguard: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      // The server's certificate comes from the fleet's own CA, which browsers may not trust:
      // HSTS would take away the operator's way past that warning.
      strictTransportSecurity: false,
    });
    await web.register(fastifyStatic, {
      root,
      // Routes are ours (history routing, 404s in the API's shape); the plugin sends files.
      serve: false,
      index: false,
      dotfiles: 'deny',
      cacheControl: false,
      setHeaders: (res, filePath) => res.setHeader('cache-control', filePath.startsWith(assets) ? IMMUTABLE : 'no-cache'),
    });
    // RFC 9239: JavaScript is text/javascript (the mime table @fastify/send uses still says application/javascript).
    web.addHook('onSend', async (_request, reply, payload) => {
      const type = reply.getHeader('content-type');
      if (typeof type === 'string' && type.startsWith('application/javascript')) void reply.header('content-type', 'text/javascript; charset=utf-8');
      return payload;
    });
  };

  // Say where the dashboard is, or why it is not there, once the server listens.
  app.addHook('onListen', async () => {
    const addr = app.server.address();
    if (addr === null || typeof addr === 'string') return;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    if (existsSync(index)) app.log.info(`dashboard: https://${host}:${addr.port}/ (sign in with an API token)`);
    else app.log.warn(`the dashboard is not built (no ${index}): run npm run build`);
  });

  const dashboard = { setup, handle: async ({ request, reply }: { request: FastifyRequest; reply: FastifyReply }) => serve(request, reply) };
  return { dashboardIndex: dashboard, dashboardFiles: dashboard };
}
