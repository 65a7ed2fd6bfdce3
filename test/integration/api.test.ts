import { EdgefleetError, ErrorBodySchema } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

async function errorOf(p: Promise<unknown>): Promise<EdgefleetError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw err;
  }
  throw new Error('expected the request to fail');
}

describe('operator API: roles and bad input', () => {
  let fleet: TestFleet;
  let viewer: EdgefleetClient;
  let operator: EdgefleetClient;
  let nodeId: string;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    viewer = fleet.client((await fleet.admin.createApiToken({ role: 'viewer' })).token);
    operator = fleet.client((await fleet.admin.createApiToken({ role: 'operator', name: 'ci' })).token);
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
    nodeId = await eventually(() => a.agent.state.lastHeartbeatAt !== undefined && a.agent.state.nodeId);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('lets a viewer read but not change', async () => {
    expect((await viewer.listNodes()).items).toHaveLength(1);
    expect((await viewer.getNode(nodeId)).id).toBe(nodeId);
    for (const attempt of [
      viewer.labelNode(nodeId, { set: { a: 'b' } }),
      viewer.createBootstrapToken({}),
      viewer.listBootstrapTokens(),
      viewer.createApiToken({ role: 'viewer' }),
      viewer.deleteNode(nodeId),
    ]) {
      const err = await errorOf(attempt);
      expect(err).toMatchObject({ status: 403, code: 'forbidden' });
      expect(err.message).toMatch(/needs the (operator|admin) role; your token has viewer/);
    }
  });

  it('lets an operator label nodes and create bootstrap tokens, but not API tokens or decommissioning', async () => {
    expect((await operator.labelNode(nodeId, { set: { zone: 'z1' } })).labels.zone).toBe('z1');
    const created = await operator.createBootstrapToken({ site: 'shop-2', uses: 5, ttlSeconds: 3600 });
    expect(created).toMatchObject({ site: 'shop-2', uses: 5, usesLeft: 5 });
    const listed = await operator.listBootstrapTokens();
    expect(listed.find((t) => t.id === created.id)).toBeDefined();
    // Listings never carry the secret.
    expect(JSON.stringify(listed)).not.toContain(created.token.split('.')[1] as string);
    expect(await errorOf(operator.createApiToken({ role: 'viewer' }))).toMatchObject({ status: 403 });
    expect(await errorOf(operator.listApiTokens())).toMatchObject({ status: 403 });
    expect(await errorOf(operator.deleteNode(nodeId))).toMatchObject({ status: 403 });
  });

  it('lets an admin manage API tokens, but never delete the last admin token', async () => {
    const created = await fleet.admin.createApiToken({ role: 'admin', name: 'second' });
    expect(created).toMatchObject({ role: 'admin', name: 'second' });
    expect(created.token).toMatch(/^efa_[0-9a-f]{12}_/);
    const items = await fleet.admin.listApiTokens();
    expect(items.map((t) => t.role).sort()).toEqual(['admin', 'admin', 'operator', 'viewer']);
    expect(JSON.stringify(items)).not.toContain(created.token);
    await fleet.admin.deleteApiToken(created.id);
    const first = items.find((t) => t.name === 'initial admin')!;
    expect(await errorOf(fleet.admin.deleteApiToken(first.id))).toMatchObject({ status: 409, code: 'conflict' });
    // A deleted token stops working at once.
    expect(await errorOf(fleet.client(created.token).listNodes())).toMatchObject({ status: 401 });
  });

  it('refuses requests without a valid token with 401 and a hint', async () => {
    for (const token of [undefined, 'nonsense', 'efa_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
      const c = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca, ...(token === undefined ? {} : { token }) });
      const err = await errorOf(c.listNodes());
      expect(err).toMatchObject({ status: 401, code: 'unauthenticated' });
      expect(err.hint).toContain('admin.token');
      await c.close();
    }
  });

  it('answers bad input with a JSON error naming the problem', async () => {
    expect(await errorOf(fleet.admin.labelNode(nodeId, { set: { 'bad key': 'x' } }))).toMatchObject({
      status: 400,
      code: 'invalid_label',
      field: 'set.bad key',
    });
    expect(await errorOf(fleet.admin.labelNode(nodeId, { set: { ok: '-bad' } }))).toMatchObject({ status: 400, code: 'invalid_label' });
    expect(await errorOf(fleet.admin.listNodes('a in (b'))).toMatchObject({ status: 400, code: 'invalid_selector' });
    expect(await errorOf(fleet.admin.createBootstrapToken({ ttlSeconds: 31 * 86_400 }))).toMatchObject({ status: 400, field: 'ttlSeconds' });
    expect(await errorOf(fleet.admin.createBootstrapToken({ site: 'not a site' }))).toMatchObject({ status: 400, code: 'invalid_label' });
    expect(await errorOf(fleet.admin.createBootstrapToken({ uses: -1 } as never))).toMatchObject({ status: 400, field: 'uses' });
    expect(await errorOf(fleet.admin.getNode('no-such-node'))).toMatchObject({ status: 404, code: 'not_found' });
    expect(await errorOf(fleet.admin.send('GET', '/v1/nope'))).toMatchObject({ status: 404 });
    expect(await errorOf(fleet.admin.send('POST', '/v1/apitokens', { role: 'root' }))).toMatchObject({ status: 400, field: 'role' });
  });

  it('answers a body over 1 MiB with 413', async () => {
    const big = { set: { a: 'b' }, padding: 'x'.repeat(1024 * 1024 + 10) };
    expect(await errorOf(fleet.admin.send('PATCH', `/v1/nodes/${nodeId}/labels`, big))).toMatchObject({ status: 413, code: 'payload_too_large' });
  });

  it('answers malformed JSON with 400 and stays up', async () => {
    const dispatcher = new Dispatcher({ connect: { ca: fleet.ca } });
    const res = await request(`${fleet.server.url}/v1/enroll`, {
      method: 'POST',
      body: '{"token":',
      headers: { 'content-type': 'application/json' },
      dispatcher,
    });
    expect(res.statusCode).toBe(400);
    expect(ErrorBodySchema.parse(await res.body.json()).error.code).toBe('bad_request');
    await dispatcher.close();
    expect((await fleet.admin.listNodes()).items).toHaveLength(1);
  });

  it('checks enrollment input before it takes a token use', async () => {
    const created = await fleet.admin.createBootstrapToken({ uses: 1 });
    const anon = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    const facts = (await fleet.admin.getNode(nodeId)).facts;
    const bad = await errorOf(anon.enroll({ token: created.token, csr: 'not a csr', facts: facts as never, labels: {} }));
    expect(bad).toMatchObject({ status: 400, code: 'invalid_csr', field: 'csr' });
    const missing = await errorOf(anon.send('POST', '/v1/enroll', { token: created.token, csr: 'x' }));
    expect(missing).toMatchObject({ status: 400, field: 'facts' });
    const badLabel = await errorOf(anon.send('POST', '/v1/enroll', { token: created.token, csr: 'x', facts, labels: { 'bad key': 'v' } }));
    expect(badLabel).toMatchObject({ status: 400, code: 'invalid_label' });
    expect((await fleet.admin.listBootstrapTokens()).find((t) => t.id === created.id)?.usesLeft).toBe(1);
    const unknown = await errorOf(anon.send('POST', '/v1/enroll', { token: `${created.token.slice(0, -3)}AAA`, csr: 'x', facts, labels: {} }));
    expect(unknown).toMatchObject({ status: 401, code: 'token_invalid' });
    await anon.close();
  });

  it('refuses agent routes without a client certificate with 401', async () => {
    const anon = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    const facts = (await fleet.admin.getNode(nodeId)).facts;
    expect(await errorOf(anon.reportStatus({ facts: facts as never, labels: {} }))).toMatchObject({ status: 401, code: 'client_certificate_required' });
    expect(await errorOf(anon.renew('x'))).toMatchObject({ status: 401 });
    // An operator token is no substitute for a node certificate.
    expect(await errorOf(fleet.admin.reportStatus({ facts: facts as never, labels: {} }))).toMatchObject({ status: 401 });
    await anon.close();
  });

  it('serves its CA and info without authentication', async () => {
    const anon = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca });
    expect(await anon.serverInfo()).toMatchObject({ caFingerprint: fleet.server.caFingerprint, heartbeatIntervalSeconds: 0.5 });
    await anon.close();
  });
});
