/**
 * Every route of the table, called over HTTPS without credentials and with a viewer token:
 * no route that the table reserves for nodes or tokens answers anything but 401 without
 * credentials, and none reserved for operators or admins lets a viewer through. A route
 * added to the table is covered here without touching this test.
 */
import { callersOf, ErrorBodySchema, type RouteSpec, routeList } from '@edgefleet/protocol';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/** A concrete URL for a route: each `:param` (or wildcard) gets a well-formed value. */
function urlOf(route: RouteSpec): string {
  return route.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => (name === 'digest' ? `sha256:${'a'.repeat(64)}` : name === 'command' ? 'pause' : 'x'));
}

const WRITES = new Set(['POST', 'PATCH']);

describe('authentication of every table route', () => {
  let fleet: TestFleet;
  let dispatcher: Dispatcher;
  let viewerToken: string;
  beforeAll(async () => {
    fleet = await startTestFleet();
    dispatcher = new Dispatcher({ connect: { ca: fleet.ca } });
    viewerToken = (await fleet.admin.createApiToken({ role: 'viewer' })).token;
  });
  afterAll(async () => {
    await dispatcher?.close();
    await fleet?.close();
  });

  const call = async (route: RouteSpec, headers: Record<string, string>) => {
    const res = await request(`${fleet.server.url}${urlOf(route)}`, {
      method: route.method,
      headers: WRITES.has(route.method) ? { ...headers, 'content-type': 'application/json' } : headers,
      body: WRITES.has(route.method) ? '{}' : undefined,
      dispatcher,
    });
    const text = await res.body.text();
    const answer = text === '' ? undefined : ErrorBodySchema.safeParse(JSON.parse(text));
    return { status: res.statusCode, code: answer?.success === true ? answer.data.error.code : undefined };
  };

  const guarded = routeList().filter((r) => !callersOf(r).includes('public'));

  it('covers the routes it should (the table has guarded routes of every kind)', () => {
    const kinds = new Set(guarded.flatMap((r) => callersOf(r)));
    expect([...kinds].sort()).toEqual(['admin', 'node', 'operator', 'viewer']);
  });

  it('answers 401 to a request without credentials on every route that is not public', async () => {
    const open: string[] = [];
    for (const route of guarded) {
      const { status, code } = await call(route, {});
      if (status !== 401) open.push(`${route.name} (${route.method} ${route.path}): ${status} ${code ?? ''}`);
      else expect(code === 'unauthenticated' || code === 'client_certificate_required' || code === undefined).toBe(true);
    }
    expect(open).toEqual([]);
  });

  it('answers 403 to a viewer token on every operator and admin route', async () => {
    const writable = guarded.filter((r) => callersOf(r).every((k) => k === 'operator' || k === 'admin'));
    expect(writable.length).toBeGreaterThan(10);
    const open: string[] = [];
    for (const route of writable) {
      const { status, code } = await call(route, { authorization: `Bearer ${viewerToken}` });
      if (status !== 403 || code !== 'forbidden') open.push(`${route.name} (${route.method} ${route.path}): ${status} ${code ?? ''}`);
    }
    expect(open).toEqual([]);
  });

  it('answers 401 to a viewer token on node-only routes', async () => {
    const nodeOnly = guarded.filter((r) => callersOf(r).every((k) => k === 'node'));
    for (const route of nodeOnly) expect((await call(route, { authorization: `Bearer ${viewerToken}` })).status).toBe(401);
  });
});
