import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../../../test-support/fleet.js';

const run = runCli;

describe('edgefleet artifact', () => {
  let fleet: TestFleet;
  let work: string;
  const configHome = process.env.XDG_CONFIG_HOME;
  beforeAll(async () => {
    fleet = await startTestFleet();
    work = mkdtempSync(join(tmpdir(), 'edgefleet-cli-artifacts-'));
    // No login config from the developer's home leaks in.
    process.env.XDG_CONFIG_HOME = work;
  });
  afterAll(async () => {
    if (configHome === undefined) delete process.env.XDG_CONFIG_HOME;
    else process.env.XDG_CONFIG_HOME = configHome;
    await fleet?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const conn = (): string[] => ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server', 'ca.crt')];

  it('says there is nothing yet, then pushes a file and prints its digest', async () => {
    const empty = await run('artifact', 'list', ...conn());
    expect(empty).toMatchObject({ code: 0, out: '' });
    expect(empty.err).toContain('edgefleet artifact push FILE');

    const data = randomBytes(2 * 1024 * 1024 + 3);
    const file = join(work, 'model.onnx');
    writeFileSync(file, data);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const pushed = await run('artifact', 'push', file, ...conn());
    expect(pushed.code).toBe(0);
    expect(pushed.out).toBe(`${digest}\n`);
    expect(pushed.err).toContain('2.0 MiB');

    const json = await run('artifact', 'push', file, '-o', 'json', ...conn());
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toEqual({ digest, size: data.length });
    expect(Object.keys(JSON.parse(json.out))).toEqual(['digest', 'size']);
  });

  it('lists artifacts as a table, JSON and YAML', async () => {
    const file = join(work, 'tiny.bin');
    writeFileSync(file, 'tiny');
    const tiny = (await run('artifact', 'push', file, ...conn())).out.trim();

    const table = await run('artifact', 'list', ...conn());
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^DIGEST\s+SIZE\s+CREATED$/);
    expect(lines).toHaveLength(3);
    expect(table.out).toMatch(new RegExp(`${tiny}\\s+4 B\\s+\\d{4}-\\d\\d-\\d\\dT`));
    expect(table.out).toMatch(/sha256:[0-9a-f]{64}\s+2\.0 MiB/);

    const json = JSON.parse((await run('artifact', 'list', '-o', 'json', ...conn())).out);
    expect(json.items).toHaveLength(2);
    expect(json.items.map((i: { digest: string }) => i.digest)).toEqual([...json.items.map((i: { digest: string }) => i.digest)].sort());
    expect(Object.keys(json.items[0]).sort()).toEqual(['createdAt', 'digest', 'size']);
    expect((await run('artifact', 'list', '-o', 'yaml', ...conn())).out).toContain(`digest: ${tiny}`);
  });

  it('names the path of a file it cannot push', async () => {
    const missing = join(work, 'no-such-model.onnx');
    const gone = await run('artifact', 'push', missing, ...conn());
    expect(gone.code).not.toBe(0);
    expect(gone.err).toContain(`error: cannot read ${missing}: ENOENT`);
    expect(gone.err).toMatch(/hint: /);

    const dir = await run('artifact', 'push', work, ...conn());
    expect(dir.code).not.toBe(0);
    expect(dir.err).toContain(`cannot read ${work}: it is a directory`);

    const badFormat = await run('artifact', 'push', join(work, 'tiny.bin'), '-o', 'yaml', ...conn());
    expect(badFormat.err).toContain('unknown output format');
  });

  it('shows the server’s refusal to a viewer', async () => {
    const viewer = (await fleet.admin.createApiToken({ role: 'viewer' })).token;
    const file = join(work, 'viewer.bin');
    writeFileSync(file, 'from a viewer');
    const res = await run('artifact', 'push', file, '--server', fleet.server.url, '--token', viewer, '--ca', join(fleet.dir, 'server', 'ca.crt'));
    expect(res.code).toBe(2);
    expect(res.err).toContain('needs the operator role');
    expect((await run('artifact', 'list', '--server', fleet.server.url, '--token', viewer, '--ca', join(fleet.dir, 'server', 'ca.crt'))).code).toBe(0);
  });
});
