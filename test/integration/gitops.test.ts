import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { EdgefleetError, type RevisionView, type SourceView } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sourceLocation } from '../../packages/cli/src/commands/sources.js';
import { deploymentYaml, TestRepo } from '../../packages/server/test/gitops/git-repo.js';
import { runCli } from '../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../test-support/fleet.js';

const run = runCli;

async function errorOf(p: Promise<unknown>): Promise<EdgefleetError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw err;
  }
  throw new Error('expected the request to fail');
}

const condition = (s: SourceView, type: string) => s.conditions.find((c) => c.type === type);

describe('GitOps: a git source drives deployments', () => {
  let fleet: TestFleet;
  let repo: TestRepo;
  let config: string;
  let digest: string;
  const env = process.env.XDG_CONFIG_HOME;

  beforeAll(async () => {
    // The test repositories live in the system temp folder, outside the data dir.
    fleet = await startTestFleet({ requireSigned: false, gitopsRoot: tmpdir() });
    repo = await TestRepo.create();
    config = mkdtempSync(join(tmpdir(), 'edgefleet-cfg-'));
    process.env.XDG_CONFIG_HOME = config;
    digest = (await fleet.admin.pushArtifact(Readable.from(Buffer.from('a tiny stand-in for an onnx model')))).digest;
  });
  afterAll(async () => {
    if (env === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = env;
    await fleet?.close();
    repo?.remove();
    rmSync(config, { recursive: true, force: true });
  });

  const conn = (): string[] => ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server', 'ca.crt')];
  const revisions = (name: string): Promise<RevisionView[]> => fleet.admin.listRevisions(name);

  it('adds, lists and gets a source from the CLI with the documented shapes', async () => {
    await repo.commit({
      'fleet/detector.yaml': deploymentYaml('detector', '1.0.0', digest),
      'fleet/counter.yaml': deploymentYaml('counter', '1.0.0', digest),
    });
    const added = await run('source', 'add', 'fleet-main', '--git', repo.url, '--path', 'fleet/', '--interval', '1h', '-o', 'json', ...conn());
    expect(added.code).toBe(0);
    const view = JSON.parse(added.out);
    expect(Object.keys(view).sort()).toEqual(
      ['branch', 'conditions', 'interval', 'lastAppliedRevision', 'lastAttemptedRevision', 'lastSyncAt', 'name', 'path', 'url'].sort(),
    );
    expect(view).toMatchObject({ name: 'fleet-main', url: repo.url, branch: 'main', path: 'fleet', interval: '1h' });
    expect(view.conditions.map((c: { type: string }) => c.type)).toEqual(['Ready', 'Stalled', 'Reconciling']);
    for (const c of view.conditions) expect(Object.keys(c).sort()).toEqual(['message', 'reason', 'status', 'type']);

    const text = await run('source', 'add', 'fleet-main', '--git', repo.url, ...conn());
    expect(text.code).not.toBe(0);
    expect(text.err).toContain('source "fleet-main" already exists');
    const badName = await run('source', 'add', 'BAD', '--git', repo.url, ...conn());
    expect(badName.err).toContain('invalid source name "BAD"');
    // A relative --git is a repository next to the user: the CLI sends its absolute path.
    expect(sourceLocation('fleet-repo')).toBe(join(process.cwd(), 'fleet-repo'));
    expect(sourceLocation('https://git.example.com/fleet.git')).toBe('https://git.example.com/fleet.git');

    const sync = await run('source', 'sync', 'fleet-main', ...conn());
    expect(sync.code).toBe(0);
    expect(sync.out).toMatch(/^source\/fleet-main Ready=True \(Applied\): applied commit [0-9a-f]{40}/);

    const list = await run('source', 'list', '-o', 'json', ...conn());
    const items = JSON.parse(list.out).items;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ name: 'fleet-main', lastAppliedRevision: expect.stringMatching(/^[0-9a-f]{40}$/) });
    expect(items[0].lastSyncAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    const table = await run('source', 'list', ...conn());
    expect(table.out.split('\n')[0]).toMatch(/^NAME\s+READY\s+STALLED\s+APPLIED\s+BRANCH\s+PATH\s+INTERVAL\s+LAST SYNC\s+MESSAGE$/);
    expect(table.out).toMatch(/fleet-main\s+True\s+False\s+[0-9a-f]{12}\s+main\s+fleet\s+1h\s+/);

    const yaml = await run('source', 'get', 'fleet-main', ...conn());
    expect(yaml.out).toContain('name: fleet-main');
    expect(yaml.out).toContain('lastAttemptedRevision:');
    const json = JSON.parse((await run('source', 'get', 'fleet-main', '-o', 'json', ...conn())).out);
    expect(json).toEqual(items[0]);
    const missing = await run('source', 'get', 'nope', ...conn());
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('source "nope" not found');
  });

  it('applies commits as revisions, stalls on bad ones keeping the last good state, and rolls back by revert', async () => {
    const sync = () => fleet.admin.syncSource('fleet-main');
    const first = (await fleet.admin.getSource('fleet-main')).lastAppliedRevision;
    expect(first).not.toBeNull();
    let detector = await fleet.admin.getDeployment('detector');
    expect(detector.metadata.source).toBe('fleet-main');
    expect(detector.status.revision).toBe(1);
    expect((await revisions('detector')).map((r) => [r.revision, r.commit])).toEqual([[1, first]]);

    // A new version: revision 2, from that commit.
    const second = await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.1.0', digest) });
    let s = await sync();
    expect(s).toMatchObject({ lastAppliedRevision: second, lastAttemptedRevision: second });
    expect(condition(s, 'Ready')?.message).toBe(`applied commit ${second}: 2 deployments (0 created, 1 configured, 1 unchanged), 0 pruned`);
    expect((await revisions('detector')).map((r) => [r.revision, r.commit])).toEqual([
      [1, first],
      [2, second],
    ]);

    // Broken YAML: Stalled with file and line; nothing changes.
    const yamlError = await repo.commit({ 'fleet/detector.yaml': `${deploymentYaml('detector', '1.2.0', digest)}  selector: [oops\n` });
    s = await sync();
    expect(condition(s, 'Stalled')).toMatchObject({ status: 'True', reason: 'InvalidManifest' });
    expect(condition(s, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidManifest' });
    expect(condition(s, 'Stalled')?.message).toMatch(/^fleet\/detector\.yaml:\d+: YAML syntax error/);
    expect(s).toMatchObject({ lastAppliedRevision: second, lastAttemptedRevision: yamlError });
    detector = await fleet.admin.getDeployment('detector');
    expect(detector.status.revision).toBe(2);
    expect((detector.spec as { release: { version: string } }).release.version).toBe('1.1.0');
    const cli = await run('source', 'sync', 'fleet-main', ...conn());
    expect(cli.code).not.toBe(0);
    expect(cli.out).toContain('Ready=False (InvalidManifest): fleet/detector.yaml:');
    expect(cli.err).toContain('source fleet-main is not ready (InvalidManifest)');

    // A schema error names the file, the line and the field.
    const schemaError = await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.2.0', digest).replace('format: onnx', 'format: pytorch') });
    s = await sync();
    expect(s.lastAttemptedRevision).toBe(schemaError);
    expect(condition(s, 'Stalled')?.message).toMatch(/^fleet\/detector\.yaml:11: spec\.release\.model\.format: /);
    expect((await fleet.admin.getDeployment('detector')).status.revision).toBe(2);

    // The fix clears Stalled.
    const fixed = await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.1.0', digest) });
    s = await sync();
    expect(condition(s, 'Stalled')).toMatchObject({ status: 'False', reason: 'Applied' });
    expect(condition(s, 'Ready')).toMatchObject({ status: 'True', reason: 'Applied' });
    expect(s).toMatchObject({ lastAppliedRevision: fixed, lastAttemptedRevision: fixed });
    expect((await fleet.admin.getDeployment('detector')).status.revision).toBe(2);

    // A revert to the first content is a new revision equal to the first.
    const reverted = await repo.commit({ 'fleet/detector.yaml': deploymentYaml('detector', '1.0.0', digest) }, 'Revert to 1.0.0');
    s = await sync();
    expect(s.lastAppliedRevision).toBe(reverted);
    const revs = await revisions('detector');
    expect(revs.map((r) => [r.revision, r.commit])).toEqual([
      [1, first],
      [2, second],
      [3, reverted],
    ]);
    expect(revs[2]?.release).toEqual(revs[0]?.release);
    expect((await fleet.admin.getDeployment('detector')).status.revision).toBe(3);
  });

  it('keeps deployments a source owns out of manual deletes, and prunes what git removes', async () => {
    const manual = await errorOf(fleet.admin.deleteDeployment('detector'));
    expect(manual.status).toBe(409);
    expect(manual.message).toContain('managed by GitOps source fleet-main');

    const removed = await repo.commit({ 'fleet/counter.yaml': null });
    const s = await fleet.admin.syncSource('fleet-main');
    expect(s.lastAppliedRevision).toBe(removed);
    expect(condition(s, 'Ready')?.message).toContain('1 pruned');
    expect((await errorOf(fleet.admin.getDeployment('counter'))).status).toBe(404);
    expect((await fleet.admin.getDeployment('detector')).status.revision).toBe(3);
  });

  it('checks roles: viewers read sources, only operators change them', async () => {
    const viewer = fleet.client((await fleet.admin.createApiToken({ role: 'viewer' })).token);
    expect((await viewer.listSources()).items.map((s) => s.name)).toEqual(['fleet-main']);
    expect((await errorOf(viewer.syncSource('fleet-main'))).status).toBe(403);
    expect((await errorOf(viewer.deleteSource('fleet-main'))).status).toBe(403);
    expect((await errorOf(viewer.createSource({ name: 'x', url: repo.url }))).status).toBe(403);
    const bad = await errorOf(fleet.admin.createSource({ name: 'x', url: 'fleet/' }));
    expect(bad).toMatchObject({ status: 400, field: 'url' });
  });

  it('deletes a source and prunes its deployments', async () => {
    const del = await run('source', 'delete', 'fleet-main', ...conn());
    expect(del.code).toBe(0);
    expect(del.out).toBe('source/fleet-main deleted\n');
    expect((await fleet.admin.listDeployments()).items).toEqual([]);
    expect((await fleet.admin.listSources()).items).toEqual([]);
    expect((await errorOf(fleet.admin.deleteSource('fleet-main'))).status).toBe(404);
    const audit = (await fleet.server.store.listAudit(20)).map((e) => `${e.actor.split(':')[0]} ${e.action} ${e.target}`);
    expect(audit).toContain('token source.delete fleet-main');
    expect(audit).toContain('token deployment.prune detector');
    expect(audit).toContain('source deployment.prune counter');
  });
});
