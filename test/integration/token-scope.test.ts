import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type DeploymentManifestInput, EdgefleetError } from '@edgefleet/protocol';
import type { EdgefleetClient } from '@edgefleet/protocol/node';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SseParser } from '../../packages/web/src/sse.js';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

async function errorOf(p: Promise<unknown>): Promise<EdgefleetError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw err;
  }
  throw new Error('expected the request to be refused, and it succeeded');
}

/**
 * Issue 14 (low): API tokens limited to sites, token expiry and GitOps paths. Each attack
 * is made for real against a real server over TLS with real enrolled agents. Before the
 * fix, the `sites` of a token were dropped (the token covered the whole fleet), so the
 * store-12 operator read, relabelled and decommissioned store-99's node and deployed to
 * every arm64 node; an expired token kept working; and a source could read /etc.
 */
describe('site-scoped API tokens, token expiry, GitOps roots', () => {
  let fleet: TestFleet;
  let mine: TestAgent;
  let theirs: TestAgent;
  let scoped: EdgefleetClient;
  let scopedId: string;
  let scopedToken: string;
  let digest: string;

  const manifest = (name: string, selector: string): DeploymentManifestInput => ({
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { selector, release: { version: '1', model: { artifact: digest, format: 'onnx' } } as never },
  });

  beforeAll(async () => {
    fleet = await startTestFleet({ requireSigned: false });
    digest = (await fleet.admin.pushArtifact(Readable.from([Buffer.from('a stand-in model')]))).digest;
    mine = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ site: 'store-12' }) });
    theirs = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ site: 'store-99' }) });
    await eventually(() => mine.agent.state.nodeId !== undefined && theirs.agent.state.nodeId !== undefined, 20_000, 'both nodes enrolled');
    const created = await fleet.admin.createApiToken({ role: 'operator', name: 'store 12 and 13', sites: ['store-12', 'store-13'] });
    expect(created.sites).toEqual(['store-12', 'store-13']);
    scoped = fleet.client(created.token);
    scopedToken = created.token;
    scopedId = created.id;
    // A fleet-wide deployment an admin made: out of the scoped token's reach.
    // (`team=nobody` keeps the agents from starting workloads this test does not need.)
    await fleet.admin.apply([manifest('fleet-wide', 'cpu.arch=arm64,team=nobody')]);
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  const theirId = (): string => theirs.agent.state.nodeId as string;

  it('lists only the nodes of its sites, and says which sites it has', async () => {
    const ids = (await scoped.listNodes()).items.map((n) => n.id);
    expect(ids).toEqual([mine.agent.state.nodeId]);
    expect((await fleet.admin.listNodes()).items).toHaveLength(2);
    expect(await scoped.request('whoami', {})).toMatchObject({ role: 'operator', sites: ['store-12', 'store-13'] });
  });

  it("cannot read, label or decommission another site's node: 404, as if it did not exist", async () => {
    const name = (await fleet.admin.getNode(theirId())).name;
    for (const ref of [theirId(), name]) {
      expect(await errorOf(scoped.getNode(ref))).toMatchObject({ status: 404, code: 'not_found' });
      expect(await errorOf(scoped.labelNode(ref, { set: { pwned: 'yes' } }))).toMatchObject({ status: 404 });
      // Decommissioning is an admin's, and admin tokens are never limited to sites.
      expect(await errorOf(scoped.deleteNode(ref))).toMatchObject({ status: 403 });
      expect(await errorOf(scoped.request('nodeTelemetry', { params: { ref } }))).toMatchObject({ status: 404 });
      expect(await errorOf(scoped.request('nodeLogs', { params: { ref }, query: {} }))).toMatchObject({ status: 404 });
      // Nor take its identity over (a re-enrollment token), list or revoke its certificates.
      expect(await errorOf(scoped.request('reenrollNode', { params: { ref }, body: {} }))).toMatchObject({ status: 404 });
      expect(await errorOf(scoped.request('listNodeCertificates', { params: { ref } }))).toMatchObject({ status: 404 });
      const { items } = await fleet.admin.request('listNodeCertificates', { params: { ref } });
      const serial = items[0]?.serial as string;
      expect(await errorOf(scoped.request('revokeNodeCertificate', { params: { ref, serial } }))).toMatchObject({ status: 404 });
    }
    const after = await fleet.admin.getNode(theirId());
    expect(after.labels.pwned).toBeUndefined();
    expect(after.status).not.toBe('decommissioned');
  });

  it("does not learn of a fleet-wide deployment through its own node's workloads (nodes get)", async () => {
    const id = mine.agent.state.nodeId as string;
    await fleet.admin.apply([manifest('everywhere-running', 'cpu.arch=arm64')]);
    // The admin sees the node report it…
    await eventually(async () => (await fleet.admin.getNode(id)).workloads.some((w) => w.deployment === 'everywhere-running'), 30_000, 'the workload reported');
    // …the site-scoped token, for which that deployment does not exist, does not.
    const seen = await scoped.getNode(id);
    expect(seen.id).toBe(id);
    expect(seen.workloads.map((w) => w.deployment)).not.toContain('everywhere-running');
    await fleet.admin.deleteDeployment('everywhere-running');
  }, 60_000);

  it('changes its own nodes, but cannot move one to another site', async () => {
    const labelled = await scoped.labelNode(mine.agent.state.nodeId as string, { set: { shelf: 'b' } });
    expect(labelled.labels.shelf).toBe('b');
    const moved = await errorOf(scoped.labelNode(mine.agent.state.nodeId as string, { set: { 'geolocation.site': 'store-99' } }));
    expect(moved).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('cannot apply a deployment whose selector reaches other sites (cpu.arch=arm64 reaches all)', async () => {
    for (const selector of ['cpu.arch=arm64', 'geolocation.site in (store-12,store-99)', 'geolocation.site!=store-99', 'geolocation.site']) {
      const refused = await errorOf(scoped.apply([manifest('everywhere', selector)]));
      expect(refused).toMatchObject({ status: 403, code: 'forbidden' });
      expect(refused.message).toContain('outside your sites');
      expect(refused.hint).toContain('geolocation.site in (store-12,store-13)');
    }
    await expect(fleet.admin.getDeployment('everywhere')).rejects.toMatchObject({ status: 404 });
    // Pinned to its sites, the same deployment is fine.
    const ok = await scoped.apply([manifest('store-detector', 'geolocation.site in (store-12,store-13),team=nobody')]);
    expect(ok.results[0]).toMatchObject({ name: 'store-detector', result: 'created' });
    expect((await scoped.listDeployments()).items.map((d) => d.metadata.name)).toEqual(['store-detector']);
  });

  it('cannot see, replace, delete or roll out a deployment outside its scope', async () => {
    expect(await errorOf(scoped.getDeployment('fleet-wide'))).toMatchObject({ status: 404 });
    expect(await errorOf(scoped.deleteDeployment('fleet-wide'))).toMatchObject({ status: 404 });
    expect(await errorOf(scoped.listRevisions('fleet-wide'))).toMatchObject({ status: 404 });
    expect(await errorOf(scoped.deploymentLatency('fleet-wide'))).toMatchObject({ status: 404 });
    expect((await fleet.admin.deploymentLatency('fleet-wide')).hours).toEqual([]);
    // The admin learns the deployment has no rollout strategy (409); the scoped token only that there is no such deployment.
    const pause = { params: { name: 'fleet-wide', command: 'pause' as const }, body: {} };
    expect(await errorOf(fleet.admin.request('rolloutCommand', pause))).toMatchObject({ status: 409 });
    expect(await errorOf(scoped.request('rolloutCommand', pause))).toMatchObject({ status: 404 });
    expect(await errorOf(scoped.request('rolloutStatus', { params: { name: 'fleet-wide' } }))).toMatchObject({ status: 404 });
    // Same name, narrowed to its sites: that would take the deployment away from every other site.
    const replaced = await errorOf(scoped.apply([manifest('fleet-wide', 'geolocation.site=store-12')]));
    expect(replaced).toMatchObject({ status: 403 });
    expect((await fleet.admin.getDeployment('fleet-wide')).spec.selector).toBe('cpu.arch=arm64,team=nobody');
  });

  it('cannot add, read or sync GitOps sources (they apply with fleet-wide authority)', async () => {
    const refused = await errorOf(scoped.createSource({ name: 'mine', url: 'https://git.example/fleet.git' }));
    expect(refused).toMatchObject({ status: 403, code: 'forbidden' });
    expect(refused.message).toContain('a token limited to sites');
    expect((await scoped.listSources()).items).toEqual([]);
  });

  it("serves the dashboard's reads filtered, and a watch stream that carries only its sites", async () => {
    // What the dashboard lists after `hello` (packages/web/src/fleet-provider.ts), all 200 and filtered.
    expect((await scoped.alerts({ state: 'all' })).items.every((a) => a.site === 'store-12')).toBe(true);
    expect((await scoped.request('events', { query: {} })).items.every((e) => e.deployment === 'store-detector')).toBe(true);
    const latest = await scoped.request('latestValues', { query: { name: 'node_temperature_celsius' } });
    expect(latest.items.every((v) => v.nodeId === mine.agent.state.nodeId)).toBe(true);

    const dispatcher = new Dispatcher({ connect: { ca: fleet.ca } });
    try {
      const res = await request(`${fleet.server.url}/v1/watch`, { dispatcher, headers: { authorization: `Bearer ${scopedToken}` } });
      expect(res.statusCode).toBe(200);
      const parser = new SseParser();
      const seen: Array<{ event: string; data: unknown }> = [];
      const reading = (async () => {
        for await (const chunk of res.body) for (const m of parser.push(chunk.toString()).messages) seen.push({ event: m.event, data: JSON.parse(m.data) });
      })().catch(() => undefined);
      await eventually(() => seen.some((m) => m.event === 'hello'), 10_000, 'hello');
      // An admin labels both nodes: the scoped stream carries only its own.
      await fleet.admin.labelNode(theirId(), { set: { aisle: '9' } });
      await fleet.admin.labelNode(mine.agent.state.nodeId as string, { set: { aisle: '1' } });
      type Upserts = { upserted: Array<{ id: string; labels: Record<string, string> }>; deleted: string[] };
      await eventually(
        () => seen.some((m) => m.event === 'nodes' && (m.data as Upserts).upserted.some((n) => n.labels.aisle === '1')),
        10_000,
        'its own node on the stream',
      );
      const ids = seen.filter((m) => m.event === 'nodes').flatMap((m) => [...(m.data as Upserts).upserted.map((n) => n.id), ...(m.data as Upserts).deleted]);
      expect(ids).not.toContain(theirId());
      for (const m of seen.filter((x) => x.event === 'audit')) {
        expect((m.data as { items: Array<{ actor: string }> }).items.every((e) => e.actor === `token:${scopedId}`)).toBe(true);
      }
      res.body.destroy();
      await reading;
    } finally {
      await dispatcher.close();
    }
  });

  it('creates bootstrap tokens only for its sites', async () => {
    expect(await errorOf(scoped.createBootstrapToken({ site: 'store-99' }))).toMatchObject({ status: 403 });
    expect(await errorOf(scoped.createBootstrapToken({}))).toMatchObject({ status: 403 });
    const own = await scoped.createBootstrapToken({ site: 'store-13' });
    const sites = (await scoped.listBootstrapTokens()).map((t) => t.site);
    expect(sites).toContain('store-13');
    expect(sites).not.toContain('store-99');
    expect((await fleet.admin.listBootstrapTokens()).map((t) => t.site)).toContain('store-99');
    await scoped.deleteBootstrapToken(own.id);
    const other = (await fleet.admin.listBootstrapTokens()).find((t) => t.site === 'store-99')?.id as string;
    expect(await errorOf(scoped.deleteBootstrapToken(other))).toMatchObject({ status: 404 });
  });

  it('reads only its own audit entries; viewers cannot read the audit log', async () => {
    const entries = (await scoped.request('audit', { query: {} })).items;
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.actor === `token:${scopedId}`)).toBe(true);
    const all = (await fleet.admin.request('audit', { query: {} })).items;
    expect(all.some((e) => e.actor !== `token:${scopedId}`)).toBe(true);
    const viewer = fleet.client((await fleet.admin.createApiToken({ role: 'viewer' })).token);
    expect(await errorOf(viewer.request('audit', { query: {} }))).toMatchObject({ status: 403 });
    const since = (await fleet.admin.request('audit', { query: { since: new Date(Date.now() + 60_000).toISOString() } })).items;
    expect(since).toEqual([]);
  });

  it('admin tokens cannot be limited to sites (an admin mints fleet-wide tokens)', async () => {
    expect(await errorOf(fleet.admin.createApiToken({ role: 'admin', sites: ['store-12'] }))).toMatchObject({ status: 400 });
  });

  it('an expired API token gets 401 saying it expired; last use is recorded', async () => {
    const short = await fleet.admin.createApiToken({ role: 'viewer', ttlSeconds: 1 });
    const client = fleet.client(short.token);
    await client.listNodes();
    await eventually(async () => (await fleet.admin.listApiTokens()).find((t) => t.id === short.id)?.lastUsedAt !== null, 5_000, 'last use recorded');
    await new Promise((r) => setTimeout(r, 1_200));
    const expired = await errorOf(client.listNodes());
    expect(expired).toMatchObject({ status: 401, code: 'token_expired' });
    expect(expired.message).toContain('expired at');
    expect(expired.hint).toContain('apitoken create');
    // New tokens expire in 90 days unless told otherwise; the initial admin token never does.
    const tokens = await fleet.admin.listApiTokens();
    const initial = tokens.find((t) => t.name === 'initial admin');
    expect(initial?.expiresAt).toBeNull();
    const days = (Date.parse(tokens.find((t) => t.id === scopedId)?.expiresAt ?? '') - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89.9);
    expect(days).toBeLessThanOrEqual(90);
  });

  it('deletes API tokens, never the last working admin', async () => {
    const initialId = (await fleet.admin.listApiTokens()).find((t) => t.name === 'initial admin')?.id as string;
    expect(await errorOf(fleet.admin.deleteApiToken(initialId))).toMatchObject({ status: 409 });
    const doomed = await fleet.admin.createApiToken({ role: 'viewer' });
    await fleet.admin.deleteApiToken(doomed.id);
    expect(await errorOf(fleet.client(doomed.token).listNodes())).toMatchObject({ status: 401 });
  });

  it('refuses GitOps sources on local paths outside the root (/etc, ../../, a symlink out)', async () => {
    const data = join(fleet.dir, 'server');
    symlinkSync('/etc', join(data, 'etc-link'));
    for (const url of ['/etc', `${data}/../../`, `${data}/../../../../etc`, join(data, 'etc-link'), 'file:///etc']) {
      const refused = await errorOf(fleet.admin.createSource({ name: 'sneaky', url }));
      expect(refused, url).toMatchObject({ status: 400, field: 'url' });
      expect(refused.message).toContain('outside the GitOps root');
      expect(refused.hint).toContain('--gitops-root');
    }
    const climbing = await errorOf(fleet.admin.createSource({ name: 'sneaky', url: join(data, 'repo'), path: '../../' }));
    expect(climbing).toMatchObject({ status: 400, field: 'path' });
    expect((await fleet.admin.listSources()).items).toEqual([]);
  });
});
