import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArtifactStore } from '../../src/artifacts/store.js';
import type { ServerContext } from '../../src/context.js';
import type { DataDir } from '../../src/data-dir.js';
import { SourcePoller } from '../../src/gitops/poller.js';
import { createSource, removeSource, syncSource } from '../../src/gitops/reconcile.js';
import { openRepository, type RepositoryOpener } from '../../src/gitops/repository.js';
import { validateSourceRequest } from '../../src/gitops/spec.js';
import { openStore, type SourceRecord } from '../../src/store/index.js';
import { deploymentYaml, TestRepo } from './git-repo.js';

const conditionsOf = (s: SourceRecord | undefined): string[] => (s?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);
const messageOf = (s: SourceRecord | undefined, type: string): string => s?.conditions.find((c) => c.type === type)?.message ?? '';

describe('the source poller', () => {
  let dir: string;
  let now: number;
  let ctx: ServerContext;
  let repo: TestRepo;
  let digest: string;
  let poller: SourcePoller;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-gitops-'));
    now = 1_700_000_000_000;
    ctx = {
      store: await openStore(`sqlite:${join(dir, 'fleet.db')}`, ''),
      dataDir: { path: dir } as DataDir,
      clock: () => now,
      log: pino({ level: 'silent' }),
      heartbeatIntervalMs: 60_000,
      nodeCertLifetimeMs: 86_400_000,
      artifacts: new ArtifactStore(join(dir, 'artifacts')),
      requireSigned: false,
      events: new EventEmitter(),
      // The test repositories live in the system temp folder, outside the data dir.
      gitops: { root: tmpdir(), maxCloneBytes: 1024 * 1024 },
    };
    digest = (await ctx.artifacts.put(Readable.from([Buffer.from('model v1')]))).digest;
    repo = await TestRepo.create();
    poller = new SourcePoller(ctx);
  });
  afterEach(async () => {
    await poller.stop();
    await ctx.store.close();
    repo.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  const add = (over: { url?: string; path?: string } = {}) =>
    createSource(ctx, validateSourceRequest({ name: 'fleet', url: over.url ?? repo.url, path: over.path ?? 'fleet', interval: '30s' }), 'token:test');
  const source = () => ctx.store.getSource('fleet');

  it('applies nothing and records no status when the leader it runs for was fenced out (a newer leader polls)', async () => {
    await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.0.0', digest) });
    await add();
    const before = await source();
    // This replica took the lease under term 1 and leads by its own account; a newer leader holds term 2.
    expect(await ctx.store.leases.tryAcquireLease('leader', 'old', 10_000)).toEqual({ term: 1 });
    expect(await ctx.store.leases.tryAcquireLease('leader', 'newer', 10_000)).toEqual({ term: 2 });
    ctx.leader = { isLeader: true, replica: 'old', term: 1, fence: (tx) => tx.leases.assertLeaseTerm('leader', 1) };
    const logs: string[] = [];
    ctx.log = pino({ level: 'error' }, { write: (line: string) => logs.push(JSON.parse(line).err?.message ?? '') });
    poller = new SourcePoller(ctx);
    await poller.tick();
    expect(await ctx.store.getDeployment('detector')).toBeUndefined();
    expect(await source()).toEqual(before);
    expect(logs.join('\n')).toContain('the write was refused');
    // Under the current term the same pass applies.
    ctx.leader = { isLeader: true, replica: 'newer', term: 2, fence: (tx) => tx.leases.assertLeaseTerm('leader', 2) };
    await poller.tick();
    expect(await ctx.store.getDeployment('detector')).toMatchObject({ source: 'fleet', revision: 1 });
  });

  it('applies a commit once, records it on the revision, and polls again only after the interval', async () => {
    const c1 = await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.0.0', digest) });
    await add();
    await poller.tick();
    const s = await source();
    expect(conditionsOf(s)).toEqual(['Ready=True/Applied', 'Stalled=False/Applied', 'Reconciling=False/Applied']);
    expect(s).toMatchObject({ lastAppliedRevision: c1, lastAttemptedRevision: c1, updatedAt: now });
    expect(messageOf(s, 'Ready')).toBe(`applied commit ${c1}: 1 deployment (1 created, 0 configured, 0 unchanged), 0 pruned`);
    expect(await ctx.store.getDeployment('detector')).toMatchObject({ source: 'fleet', revision: 1 });
    expect((await ctx.store.listRevisions('detector')).map((r) => r.commit)).toEqual([c1]);

    const c2 = await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.1.0', digest) });
    now += 29_999;
    await poller.tick();
    expect((await source())?.lastAppliedRevision).toBe(c1);
    now += 1;
    await poller.tick();
    expect((await source())?.lastAppliedRevision).toBe(c2);
    expect((await ctx.store.listRevisions('detector')).map((r) => [r.revision, r.commit, r.release.version])).toEqual([
      [1, c1, '1.0.0'],
      [2, c2, '1.1.0'],
    ]);
  });

  it('stalls on a bad commit without applying any of it, and the next good commit clears it', async () => {
    const good = await repo.commit({
      'fleet/a.yaml': deploymentYaml('a', '1', digest),
      'fleet/b.yaml': deploymentYaml('b', '1', digest),
    });
    await add();
    await poller.tick();
    // One file good and changed, one broken: nothing of the commit may land.
    const bad = await repo.commit({
      'fleet/a.yaml': deploymentYaml('a', '2', digest),
      'fleet/b.yaml': 'apiVersion: edgefleet.dev/v1\nkind: Deployment\nmetadata:\n  name: b\n  labels: [unclosed\n',
    });
    now += 30_000;
    await poller.tick();
    let s = await source();
    expect(conditionsOf(s)).toEqual(['Ready=False/InvalidManifest', 'Stalled=True/InvalidManifest', 'Reconciling=False/InvalidManifest']);
    expect(s).toMatchObject({ lastAppliedRevision: good, lastAttemptedRevision: bad });
    expect(messageOf(s, 'Stalled')).toMatch(/^fleet\/b\.yaml:\d+: YAML syntax error/);
    expect((await ctx.store.getDeployment('a'))?.revision).toBe(1);

    // Polling the refused head again does not retry it.
    const auditBefore = (await ctx.store.listAudit(100)).length;
    now += 30_000;
    await poller.tick();
    expect((await ctx.store.listAudit(100)).length).toBe(auditBefore);
    expect((await source())?.updatedAt).toBe(now);

    const schema = await repo.commit({ 'fleet/b.yaml': deploymentYaml('b', '1', digest).replace('format: onnx', 'format: pytorch') });
    now += 30_000;
    await poller.tick();
    s = await source();
    expect(s?.lastAttemptedRevision).toBe(schema);
    expect(messageOf(s, 'Stalled')).toMatch(/^fleet\/b\.yaml:11: spec\.release\.model\.format: /);

    const selector = await repo.commit({ 'fleet/b.yaml': deploymentYaml('b', '1', digest).replace('hardware.ai-hat=true', 'hardware.ai-hat in (true') });
    now += 30_000;
    await poller.tick();
    s = await source();
    expect(s?.lastAttemptedRevision).toBe(selector);
    expect(messageOf(s, 'Stalled')).toMatch(/^fleet\/b\.yaml:1: deployment\/b: spec\.selector: invalid label selector "hardware\.ai-hat in \(true"/);

    const fixed = await repo.commit({ 'fleet/b.yaml': deploymentYaml('b', '1', digest) });
    now += 30_000;
    await poller.tick();
    s = await source();
    expect(conditionsOf(s)).toEqual(['Ready=True/Applied', 'Stalled=False/Applied', 'Reconciling=False/Applied']);
    expect(s).toMatchObject({ lastAppliedRevision: fixed, lastError: null });
    expect((await ctx.store.getDeployment('a'))?.revision).toBe(2);
  });

  it('stalls on a refused apply naming the file, and a forced sync retries it once the server has the artifact', async () => {
    const model = Buffer.from('model v2');
    const missing = `sha256:${createHash('sha256').update(model).digest('hex')}`;
    const head = await repo.commit({ 'fleet/x.yaml': `${deploymentYaml('first', '1', digest)}---\n${deploymentYaml('second', '1', missing)}` });
    await add();
    await poller.tick();
    let s = await source();
    expect(conditionsOf(s)).toEqual(['Ready=False/ApplyFailed', 'Stalled=True/ApplyFailed', 'Reconciling=False/ApplyFailed']);
    expect(messageOf(s, 'Stalled')).toBe(`fleet/x.yaml:13: deployment/second: artifact ${missing} is not on the server`);
    expect(await ctx.store.getDeployment('first')).toBeUndefined();

    // The poller does not retry the refused head…
    now += 30_000;
    await poller.tick();
    expect(await ctx.store.getDeployment('first')).toBeUndefined();
    // …a forced sync does, once the operator has fixed the server side.
    await ctx.artifacts.put(Readable.from([model]));
    s = await syncSource(ctx, 'fleet', { mode: 'forced' });
    expect(conditionsOf(s)[0]).toBe('Ready=True/Applied');
    expect(s).toMatchObject({ lastAppliedRevision: head, lastAttemptedRevision: head });
    expect((await ctx.store.listDeployments()).map((d) => d.name)).toEqual(['first', 'second']);
  });

  it('keeps everything when the path vanishes, and prunes what a commit removes', async () => {
    await repo.commit({ 'fleet/a.yaml': deploymentYaml('a', '1', digest), 'fleet/b.yaml': deploymentYaml('b', '1', digest) });
    await add();
    await poller.tick();
    const removed = await repo.commit({ 'fleet/b.yaml': null });
    let s = await syncSource(ctx, 'fleet', { mode: 'forced' });
    expect(s?.lastAppliedRevision).toBe(removed);
    expect(messageOf(s, 'Ready')).toContain('1 deployment (0 created, 0 configured, 1 unchanged), 1 pruned');
    expect((await ctx.store.listDeployments()).map((d) => d.name)).toEqual(['a']);

    const gone = await repo.commit({ 'fleet/a.yaml': null, 'README.md': 'moved\n' });
    s = await syncSource(ctx, 'fleet', { mode: 'forced' });
    expect(conditionsOf(s)[1]).toBe('Stalled=True/PathNotFound');
    expect(messageOf(s, 'Stalled')).toBe(`path fleet/ does not exist at commit ${gone}`);
    expect((await ctx.store.listDeployments()).map((d) => d.name)).toEqual(['a']);
  });

  it('never reads a local source outside the GitOps root, even one stored before the root was set', async () => {
    await repo.commit({ 'fleet/a.yaml': deploymentYaml('a', '1', digest) });
    await add();
    ctx.gitops = { root: dir, maxCloneBytes: 1024 * 1024 };
    await poller.tick();
    const s = await source();
    expect(conditionsOf(s)[0]).toBe('Ready=False/SourceUnavailable');
    expect(messageOf(s, 'Ready')).toContain(`is outside the GitOps root ${dir}`);
    expect(await ctx.store.listDeployments()).toEqual([]);
  });

  it('reports an unreadable repository and retries it every interval', async () => {
    let url = '/no/such/repository';
    const opener: RepositoryOpener = (_u, cache) => openRepository(url, cache);
    poller = new SourcePoller(ctx, { openRepository: opener });
    await add();
    await poller.tick();
    let s = await source();
    expect(conditionsOf(s)).toEqual(['Ready=False/SourceUnavailable', 'Stalled=False/Progressing', 'Reconciling=True/SourceUnavailable']);
    expect(messageOf(s, 'Ready')).toBe('cannot read /no/such/repository: no such folder on the server');
    expect(s?.lastAttemptedRevision).toBeNull();

    url = repo.url;
    const head = await repo.commit({ 'fleet/a.yaml': deploymentYaml('a', '1', digest) });
    await poller.tick();
    expect((await source())?.lastAppliedRevision).toBeNull(); // not due yet
    now += 30_000;
    await poller.tick();
    s = await source();
    expect(s?.lastAppliedRevision).toBe(head);
    expect(conditionsOf(s)[0]).toBe('Ready=True/Applied');
  });

  it('never overlaps two passes of one source', async () => {
    await repo.commit({ 'fleet/a.yaml': deploymentYaml('a', '1', digest) });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    let running = 0;
    let most = 0;
    let heads = 0;
    const opener: RepositoryOpener = (url, cache) => {
      const real = openRepository(url, cache);
      return {
        async resolveHead(branch) {
          heads++;
          most = Math.max(most, ++running);
          entered();
          await gate;
          try {
            return await real.resolveHead(branch);
          } finally {
            running--;
          }
        },
        readManifestFiles: (commit, path) => real.readManifestFiles(commit, path),
      };
    };
    poller = new SourcePoller(ctx, { openRepository: opener });
    await add();
    const first = poller.tick();
    await inside;
    await poller.tick(); // skips the source: its pass is still running
    const forced = syncSource(ctx, 'fleet', { mode: 'forced', openRepository: opener }); // queues behind it
    release();
    await first;
    expect((await forced)?.lastAppliedRevision).not.toBeNull();
    expect(most).toBe(1);
    expect(heads).toBe(2);
  });

  it('ticks on its own once started, and stops', async () => {
    await repo.commit({ 'fleet/a.yaml': deploymentYaml('a', '1', digest) });
    await add();
    poller = new SourcePoller(ctx, { tickMs: 10 });
    poller.start();
    for (let i = 0; i < 200 && (await source())?.lastAppliedRevision == null; i++) await new Promise((r) => setTimeout(r, 10));
    await poller.stop();
    expect((await source())?.lastAppliedRevision).not.toBeNull();
  });

  it('deletes a source and prunes every deployment it applied', async () => {
    await repo.commit({ 'fleet/a.yaml': deploymentYaml('a', '1', digest), 'fleet/b.yaml': deploymentYaml('b', '1', digest) });
    await add();
    await poller.tick();
    expect((await ctx.store.listDeployments()).length).toBe(2);
    expect(await removeSource(ctx, 'fleet', 'token:test')).toEqual({ pruned: ['a', 'b'] });
    expect(await source()).toBeUndefined();
    expect(await ctx.store.listDeployments()).toEqual([]);
    expect((await ctx.store.listAudit(1))[0]).toMatchObject({ action: 'source.delete', target: 'fleet', details: { pruned: ['a', 'b'] } });
    expect(await removeSource(ctx, 'fleet', 'token:test')).toBeUndefined();
    expect(await syncSource(ctx, 'fleet', { mode: 'forced' })).toBeUndefined();
  });

  it('refuses a second source with the same name', async () => {
    await add();
    await expect(add()).rejects.toMatchObject({ status: 409, message: 'source "fleet" already exists' });
  });
});
