import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { request } from 'node:https';
import type { RegistryAccess } from '@edgefleet/protocol';
import type { TestRegistry } from './registry.js';

/**
 * A registry that speaks the distribution token flow (as Harbor, GHCR and ECR do), for
 * tests: a plain-HTTP front on 127.0.0.1 that answers unauthenticated `/v2/` requests with
 * `401 WWW-Authenticate: Bearer realm="<front>/token",service="edgefleet-test",scope="repository:<name>:pull"`,
 * issues tokens at `/token` (to the given Basic credentials, or to anyone when `anonymous`),
 * and relays requests carrying a valid token to the real {@link TestRegistry} behind it.
 * Distribution itself would need a JWT-signing token server; the client side of the flow
 * is the same. `corrupt` lets a test change what the front serves for a path.
 */
export interface TokenFront {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`: the host part of image references. */
  host: string;
  /** Every token request: its query and whether it carried Basic credentials. */
  tokenRequests: { service: string | null; scope: string | null; basic: string | null }[];
  /** A registry entry for this front (no CA: plain HTTP). */
  access(overrides?: Partial<RegistryAccess>): RegistryAccess;
  stop(): Promise<void>;
}

/** Options of {@link startTokenFront}. */
export interface TokenFrontOptions {
  /** Credentials the token endpoint accepts; default the registry's. */
  username?: string;
  password?: string;
  /** Issue tokens without credentials (a public repository). */
  anonymous?: boolean;
  /** Bytes to append to the answer for a path (e.g. `/v2/team/x/blobs/sha256:…`), to break a blob. */
  appendTo?: (path: string) => Buffer | undefined;
  /**
   * Answer authorized blob requests with `307 Location: <redirectBlobsTo>/v2/…` (storage
   * behind a CDN, as S3-backed registries do); that origin must serve them without our token.
   */
  redirectBlobsTo?: string;
}

/** Starts the front on a free loopback port. */
export async function startTokenFront(registry: TestRegistry, opts: TokenFrontOptions = {}): Promise<TokenFront> {
  const username = opts.username ?? registry.username;
  const password = opts.password ?? registry.password;
  const tokens = new Set<string>();
  const tokenRequests: TokenFront['tokenRequests'] = [];
  const upstreamAuth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  let url = '';

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', url);
    if (u.pathname === '/token') {
      const basic = req.headers.authorization?.startsWith('Basic ') ? Buffer.from(req.headers.authorization.slice(6), 'base64').toString('utf8') : null;
      tokenRequests.push({ service: u.searchParams.get('service'), scope: u.searchParams.get('scope'), basic });
      if (!(opts.anonymous || basic === `${username}:${password}`)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const token = randomBytes(16).toString('hex');
      tokens.add(token);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 }));
      return;
    }
    const bearer = req.headers.authorization?.startsWith('Bearer ') ? req.headers.authorization.slice(7) : undefined;
    if (bearer === undefined || !tokens.has(bearer)) {
      const name = /^\/v2\/(.+?)\/(?:manifests|blobs)\//.exec(u.pathname)?.[1] ?? '';
      res
        .writeHead(401, {
          'www-authenticate': `Bearer realm="${url}/token",service="edgefleet-test",scope="repository:${name}:pull"`,
          'content-type': 'application/json',
        })
        .end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    if (opts.redirectBlobsTo !== undefined && u.pathname.includes('/blobs/sha256:')) {
      res.writeHead(307, { location: `${opts.redirectBlobsTo}${u.pathname}` }).end();
      return;
    }
    const extra = opts.appendTo?.(u.pathname);
    const headers: Record<string, string> = { authorization: upstreamAuth };
    for (const h of ['accept', 'range']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
    const up = request(`${registry.url}${u.pathname}${u.search}`, { method: req.method, ca: registry.caPem, headers }, (upRes) => {
      const out: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && k !== 'connection' && k !== 'transfer-encoding') out[k] = v;
      if (extra !== undefined) delete out['content-length'];
      res.writeHead(upRes.statusCode ?? 502, out);
      upRes.pipe(res, { end: extra === undefined });
      if (extra !== undefined) upRes.on('end', () => res.end(extra));
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };

  const server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  url = `http://${host}`;
  return {
    url,
    host,
    tokenRequests,
    access: (overrides = {}) => ({ name: 'token-front', server: url, caPem: null, username, password, ...overrides }),
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
