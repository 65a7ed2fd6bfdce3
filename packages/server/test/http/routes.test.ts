import type { CallerKind } from '@edgefleet/protocol';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Api } from '../../src/http/app.js';
import { authenticationFor } from '../../src/http/auth.js';
import { installErrorHandling } from '../../src/http/errors.js';
import { callerAllowed, installRouteGuard, type RouteHandlers, registerSomeRoutes } from '../../src/http/routes.js';
import type { Store } from '../../src/store/index.js';

/** A store that no public route reads; a token route reaching it would fail the test. */
const noStore = {} as Store;

function app(): Api {
  const a = Fastify() as unknown as Api;
  installErrorHandling(a);
  installRouteGuard(a);
  return a;
}

describe('routes come only from the table', () => {
  it('refuses at startup a route that is not in the table', async () => {
    const a = app();
    await expect(
      (async () => {
        a.get('/v1/stray', async () => ({}));
        await a.ready();
      })(),
    ).rejects.toThrow(/GET \/v1\/stray is not in the route table/);
  });

  it('refuses a table path registered by hand, outside the registrar', async () => {
    const a = app();
    await expect(
      (async () => {
        a.get('/v1/nodes', async () => ({ items: [] }));
        await a.ready();
      })(),
    ).rejects.toThrow(/is not in the route table/);
  });

  it('registers table routes with their handlers', async () => {
    const a = app();
    registerSomeRoutes(a, { health: async () => ({ ok: true }) }, { store: noStore, ca: { certPem: '' } });
    const res = await a.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ ok: true });
    // Only the dashboard's pages get Fastify's automatic HEAD; an API route has none.
    expect((await a.inject({ method: 'HEAD', url: '/healthz' })).statusCode).toBe(404);
  });

  it('demands a handler for every route and refuses names the table lacks (type check)', () => {
    // @ts-expect-error: every route of the table needs a handler
    const missing: RouteHandlers = { health: async () => ({ ok: true }) };
    const extra: Pick<RouteHandlers, 'health'> = {
      health: async () => ({ ok: true }),
      // @ts-expect-error: no route of that name in the table
      stray: async () => ({ ok: true }),
    };
    expect([missing, extra]).toHaveLength(2);
  });
});

describe('requests and answers go through the route schemas', () => {
  it('answers a body that fails its schema with 400 naming the field', async () => {
    const a = app();
    let called = false;
    registerSomeRoutes(
      a,
      {
        enroll: async () => {
          called = true;
          throw new Error('unreachable');
        },
      },
      { store: noStore, ca: { certPem: '' } },
    );
    const res = await a.inject({ method: 'POST', url: '/v1/enroll', payload: { token: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'bad_request', field: 'csr', message: expect.stringMatching(/^invalid body: csr: /) } });
    expect(called).toBe(false);
  });

  it('answers 500, never a half-valid body, when a handler returns what the schema refuses', async () => {
    const a = app();
    registerSomeRoutes(a, { health: async () => ({ ok: false }) as never }, { store: noStore, ca: { certPem: '' } });
    const res = await a.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ error: { code: 'internal' } });
    expect(res.body).not.toContain('false');
  });

  it('strips fields the response schema does not name', async () => {
    const a = app();
    registerSomeRoutes(a, { health: async () => ({ ok: true, secret: 'x' }) as never }, { store: noStore, ca: { certPem: '' } });
    expect((await a.inject({ url: '/healthz' })).json()).toEqual({ ok: true });
  });
});

describe('authentication from the caller kinds', () => {
  it('refuses a caller kind it cannot authenticate, at registration', () => {
    expect(() => authenticationFor({ store: noStore, ca: { certPem: '' } }, ['root' as CallerKind])).toThrow(/unknown caller kind "root"/);
    expect(() => authenticationFor({ store: noStore, ca: { certPem: '' } }, [])).toThrow(/at least one caller kind/);
  });

  it('answers 401 without credentials before the body is read or the handler runs', async () => {
    const a = app();
    let called = false;
    registerSomeRoutes(
      a,
      {
        listNodes: async () => {
          called = true;
          return { items: [] };
        },
      },
      { store: noStore, ca: { certPem: '' } },
    );
    const res = await a.inject({ url: '/v1/nodes' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'unauthenticated', message: 'this route needs an API token' } });
    expect(called).toBe(false);
  });

  it('asks a route open to nodes and tokens for either credential', async () => {
    const a = app();
    registerSomeRoutes(a, { downloadArtifact: async ({ reply }) => reply.send('bytes') }, { store: noStore, ca: { certPem: '' } });
    const res = await a.inject({ url: `/v1/artifacts/sha256:${'a'.repeat(64)}` });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ error: { code: 'unauthenticated', message: 'this route needs an API token or a node client certificate' } });
  });

  it('lets a handler run only for a caller of a kind its route allows', () => {
    const token = { kind: 'token', tokenId: 't', role: 'admin', sites: null } as const;
    const node = { kind: 'node', node: {} as never, certSerial: 's', readAt: 0 } as const;
    const anyone = { kind: 'public' } as const;
    expect(callerAllowed(['viewer'], token)).toBe(true);
    expect(callerAllowed(['node', 'viewer'], node)).toBe(true);
    expect(callerAllowed(['viewer'], node)).toBe(false);
    expect(callerAllowed(['node'], token)).toBe(false);
    expect(callerAllowed(['operator'], anyone)).toBe(false);
    expect(callerAllowed(['public'], anyone)).toBe(true);
  });
});
