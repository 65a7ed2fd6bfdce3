import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { eventually, startTestFleet, type TestFleet } from '../../../test-support/fleet.js';

const run = runCli;

describe('the edgefleet CLI', () => {
  let fleet: TestFleet;
  let config: string;
  const env = { ...process.env };
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    config = mkdtempSync(join(tmpdir(), 'edgefleet-cfg-'));
    process.env.XDG_CONFIG_HOME = config;
  });
  afterEach(() => {
    for (const k of ['EDGEFLEET_SERVER', 'EDGEFLEET_TOKEN', 'EDGEFLEET_CA']) {
      if (env[k] === undefined) delete process.env[k];
      else process.env[k] = env[k];
    }
  });
  afterAll(async () => {
    await fleet?.close();
    rmSync(config, { recursive: true, force: true });
  });

  const conn = (): string[] => ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server', 'ca.crt')];

  it('creates bootstrap and API tokens with the documented JSON shapes', async () => {
    const t = await run('token', 'create', '--site', 'shop-9', '--label', 'tier=gold', '--ttl', '2h', '--uses', '3', '-o', 'json', ...conn());
    expect(t.code).toBe(0);
    const token = JSON.parse(t.out);
    expect(Object.keys(token).sort()).toEqual(['expiresAt', 'id', 'token']);
    expect(token.token).toMatch(/^EF1[0-9a-f]{64}::/);
    expect(Date.parse(token.expiresAt) - Date.now()).toBeGreaterThan(7_100_000);
    const list = await run('token', 'list', '-o', 'json', ...conn());
    expect(JSON.parse(list.out).items[0]).toMatchObject({ id: token.id, site: 'shop-9', labels: { tier: 'gold' }, usesLeft: 3 });
    expect(list.out).not.toContain(token.token);
    const table = await run('token', 'list', ...conn());
    expect(table.out).toMatch(/^ID\s+SITE\s+USES LEFT\s+EXPIRES\s+LABELS\n/);

    const a = await run('apitoken', 'create', '--role', 'viewer', '-o', 'json', ...conn());
    expect(Object.keys(JSON.parse(a.out)).sort()).toEqual(['expiresAt', 'id', 'role', 'sites', 'token']);
    expect(JSON.parse(a.out).role).toBe('viewer');
    const bad = await run('apitoken', 'create', '--role', 'root', ...conn());
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain('unknown role "root"');
  });

  it('lists, gets, labels and deletes nodes', async () => {
    const created = await run('token', 'create', '-o', 'json', ...conn());
    const agent = await fleet.startAgent('pi5-hailo8l', { token: JSON.parse(created.out).token, name: 'pi-one' });
    await eventually(() => agent.agent.state.lastHeartbeatAt);

    const list = await run('nodes', 'list', '-o', 'json', ...conn());
    const items = JSON.parse(list.out).items;
    expect(items).toHaveLength(1);
    expect(Object.keys(items[0]).sort()).toEqual(['facts', 'id', 'labels', 'lastSeen', 'name', 'site', 'status']);
    expect(items[0]).toMatchObject({ name: 'pi-one', status: 'online', labels: { 'ai.accelerator': 'hailo8l' } });

    const yaml = await run('nodes', 'list', '-o', 'yaml', '-l', 'hardware.ai-hat=true', ...conn());
    expect(yaml.out).toContain('name: pi-one');
    const none = await run('nodes', 'list', '-l', 'hardware.ai-hat=false', ...conn());
    expect(none.err).toContain('No nodes match');
    const table = await run('nodes', 'list', ...conn());
    expect(table.out.split('\n')[0]).toMatch(/^NAME\s+ID\s+SITE\s+STATUS\s+BOARD\s+ACCELERATOR\s+ARCH\s+LAST SEEN$/);
    expect(table.out).toMatch(/pi-one\s+node-[0-9a-f]{12}\s+online\s+raspberrypi5\s+hailo8l\s+arm64/);

    expect((await run('nodes', 'label', 'pi-one', 'geolocation.site=line-2', 'rack=r7', ...conn())).out).toContain('node/pi-one labeled');
    const got = JSON.parse((await run('nodes', 'get', 'pi-one', '-o', 'json', ...conn())).out);
    expect(got).toMatchObject({ site: 'line-2', labels: { rack: 'r7' }, operatorLabels: { rack: 'r7', 'geolocation.site': 'line-2' } });
    await run('nodes', 'label', got.id, 'rack-', ...conn());
    expect(JSON.parse((await run('nodes', 'get', got.id, '-o', 'json', ...conn())).out).labels.rack).toBeUndefined();

    const badLabel = await run('nodes', 'label', 'pi-one', 'no good=x', ...conn());
    expect(badLabel.code).not.toBe(0);
    expect(badLabel.err).toMatch(/error: invalid label key "no good"/);
    expect(badLabel.err).toMatch(/hint: /);

    expect((await run('nodes', 'delete', 'pi-one', ...conn())).out).toContain('deleted');
    await expect(agent.done).rejects.toMatchObject({ status: 403 });
    const missing = await run('nodes', 'get', 'pi-one', ...conn());
    expect(missing.code).not.toBe(0);
    expect(missing.err).toContain('node "pi-one" not found');
  });

  it('reads the connection from the environment, then from the login config', async () => {
    const noConfig = await run('nodes', 'list');
    expect(noConfig.code).not.toBe(0);
    expect(noConfig.err).toContain('no server given');

    process.env.EDGEFLEET_SERVER = fleet.server.url;
    process.env.EDGEFLEET_TOKEN = fleet.adminToken;
    process.env.EDGEFLEET_CA = join(fleet.dir, 'server', 'ca.crt');
    expect((await run('nodes', 'list', '-o', 'json')).code).toBe(0);
    delete process.env.EDGEFLEET_CA;
    const untrusted = await run('nodes', 'list');
    expect(untrusted.err).toMatch(/TLS|certificate/);
    delete process.env.EDGEFLEET_SERVER;
    delete process.env.EDGEFLEET_TOKEN;

    const login = await run('login', '--server', fleet.server.url, '--token-file', fleet.server.adminTokenFile);
    expect(login.code).toBe(0);
    const path = join(config, 'edgefleet', 'config.yaml');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toContain('BEGIN CERTIFICATE');
    expect((await run('nodes', 'list', '-o', 'json')).code).toBe(0);
  });

  it('explains bad flags', async () => {
    const ttl = await run('token', 'create', '--ttl', '10', ...conn());
    expect(ttl.err).toContain('invalid ttl "10"');
    const out = await run('nodes', 'list', '-o', 'xml', ...conn());
    expect(out.err).toContain('unknown output format "xml"');
    const listen = await run('server', '--listen', 'nowhere');
    expect(listen.err).toContain('invalid --listen "nowhere"');
    const budget = await run('server', '--node-log-budget', 'lots');
    expect(budget.err).toContain('invalid --node-log-budget "lots"');
    expect(budget.err).toContain('a whole number of at least 1');
    // The secret file is checked before any connection: this URL leads nowhere.
    const secret = await run('server', '--db', 'postgres://127.0.0.1:1/none', '--cluster-secret-file', '/nonexistent/cluster-secret');
    expect(secret.err).toContain('--cluster-secret-file /nonexistent/cluster-secret does not exist');
    expect(secret.err).toContain('head -c 48 /dev/urandom');
    const onSqlite = await run('server', '--cluster-secret-file', '/nonexistent/cluster-secret');
    expect(onSqlite.err).toContain('--cluster-secret-file is for server replicas on PostgreSQL');
  });

  it('names what is wrong in a hand-edited config file instead of crashing', async () => {
    const own = mkdtempSync(join(tmpdir(), 'edgefleet-cfg-bad-'));
    const saved = process.env.XDG_CONFIG_HOME;
    process.env.XDG_CONFIG_HOME = own;
    try {
      mkdirSync(join(own, 'edgefleet'), { recursive: true });
      writeFileSync(join(own, 'edgefleet', 'config.yaml'), 'server: https://127.0.0.1:1\ntoken: [1, 2]\n');
      const r = await run('nodes', 'list');
      expect(r.err).toContain('token is not a string');
      expect(r.err).toContain('edgefleet login');
      expect(r.code).not.toBe(0);
    } finally {
      process.env.XDG_CONFIG_HOME = saved;
      rmSync(own, { recursive: true, force: true });
    }
  });
});

describe('token create --release-key', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet();
  });
  afterAll(async () => {
    await fleet?.close();
  });
  const conn = (): string[] => ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server', 'ca.crt')];

  it('creates a bootstrap token that names the release key new nodes pin (--release-key), once the server trusts it', async () => {
    const keys = mkdtempSync(join(tmpdir(), 'edgefleet-keys-'));
    try {
      expect((await run('keys', 'generate', '--out', join(keys, 'release'))).code).toBe(0);
      const pub = join(keys, 'release.pub');
      const untrusted = await run('token', 'create', '--release-key', pub, ...conn());
      expect(untrusted.code).not.toBe(0);
      expect(untrusted.err).toContain('edgefleet keys trust');
      expect((await run('keys', 'trust', pub, '--endorse-with', join(keys, 'release.key'), ...conn())).code).toBe(0);
      const t = await run('token', 'create', '--release-key', pub, '-o', 'json', ...conn());
      expect(t.code).toBe(0);
      expect(JSON.parse(t.out).token).toMatch(/^EF2[0-9a-f]{128}::/);
      const priv = await run('token', 'create', '--release-key', join(keys, 'release.key'), ...conn());
      expect(priv.err).toContain('private key');
    } finally {
      rmSync(keys, { recursive: true, force: true });
    }
  });
});
