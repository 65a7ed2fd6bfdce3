import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../../../test-support/fleet.js';

const run = runCli;

describe('edgefleet apitoken, token delete and audit', () => {
  let fleet: TestFleet;
  const conn = (token = fleet.adminToken): string[] => ['--server', fleet.server.url, '--token', token, '--ca', `${fleet.dir}/server/ca.crt`];
  beforeAll(async () => {
    fleet = await startTestFleet();
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('creates a site-scoped token with a lifetime, lists it, and deletes it', async () => {
    const created = await run('apitoken', 'create', '--role', 'operator', '--sites', 'store-12,store-13', '--ttl', '30d', '-o', 'json', ...conn());
    expect(created.code).toBe(0);
    const json = JSON.parse(created.out) as { id: string; token: string; expiresAt: string; sites: string[] };
    expect(json.sites).toEqual(['store-12', 'store-13']);
    expect((Date.parse(json.expiresAt) - Date.now()) / 86_400_000).toBeCloseTo(30, 1);
    // Used once, so the list shows when.
    expect((await run('nodes', 'list', ...conn(json.token))).code).toBe(0);
    const list = await run('apitoken', 'list', ...conn());
    expect(list.out.split('\n')[0]).toMatch(/^ID\s+ROLE\s+SITES\s+NAME\s+CREATED\s+EXPIRES\s+LAST USED$/);
    const row = list.out.split('\n').find((l) => l.startsWith(json.id)) ?? '';
    expect(row).toContain('store-12,store-13');
    expect(row).toMatch(/\d+s ago$/);
    expect(list.out).toMatch(/initial admin.*never\s+\d+s ago/);
    expect((await run('apitoken', 'delete', json.id, ...conn())).code).toBe(0);
    const gone = await run('nodes', 'list', ...conn(json.token));
    expect(gone.code).not.toBe(0);
    expect(gone.err).toContain('unknown or was deleted');
  });

  it('says what is wrong with --sites and --ttl, and refuses to delete the last admin', async () => {
    const empty = await run('apitoken', 'create', '--role', 'operator', '--sites', ',', ...conn());
    expect(empty.err).toContain('names no site');
    const admin = await run('apitoken', 'create', '--role', 'admin', '--sites', 'store-12', ...conn());
    expect(admin.err).toContain('cannot be limited to sites');
    const ttl = await run('apitoken', 'create', '--role', 'viewer', '--ttl', 'soon', ...conn());
    expect(ttl.code).not.toBe(0);
    const id = (await fleet.admin.listApiTokens()).find((t) => t.name === 'initial admin')?.id as string;
    const last = await run('apitoken', 'delete', id, ...conn());
    expect(last.err).toContain('last working admin token');
    expect(last.err).toContain('hint: create another admin token first');
  });

  it('binds a bootstrap token to one board by serial or hostname, and says so', async () => {
    const bySerial = await run('token', 'create', '--site', 'store-12', '--serial', '05a350ebd1b50841', ...conn());
    expect(bySerial.code).toBe(0);
    expect(bySerial.err).toContain('board serial 05a350ebd1b50841 only');
    const byHost = await run('token', 'create', '--hostname', 'pi-store12-03', '-o', 'json', ...conn());
    const id = (JSON.parse(byHost.out) as { id: string }).id;
    const listed = await fleet.admin.listBootstrapTokens();
    expect(listed.find((t) => t.id === id)).toMatchObject({ hostname: 'pi-store12-03' });
    expect(listed.find((t) => t.serial !== undefined && t.serial !== null)).toMatchObject({ serial: '05a350ebd1b50841' });
    const bad = await run('token', 'create', '--serial', 'not a serial', ...conn());
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/serial/);
    const many = await run('token', 'create', '--serial', '05a350ebd1b50841', '--uses', '5', ...conn());
    expect(many.code).not.toBe(0);
    for (const t of await fleet.admin.listBootstrapTokens()) await fleet.admin.deleteBootstrapToken(t.id);
  });

  it('deletes a bootstrap token', async () => {
    const id = (await fleet.admin.createBootstrapToken({ site: 'store-12' })).id;
    expect((await run('token', 'delete', id, ...conn())).code).toBe(0);
    expect(await fleet.admin.listBootstrapTokens()).toEqual([]);
    const again = await run('token', 'delete', id, ...conn());
    expect(again.err).toContain(`bootstrap token ${id} not found`);
  });

  it('lists the audit log, newest first, since a duration or a time', async () => {
    const table = await run('audit', ...conn());
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^TIME\s+ACTOR\s+ACTION\s+TARGET\s+DETAILS$/);
    expect(table.out).toContain('bootstrap-token.delete');
    const json = JSON.parse((await run('audit', '--since', '1h', '-o', 'json', ...conn())).out) as { items: Array<{ action: string }> };
    expect(json.items[0]?.action).toBe('bootstrap-token.delete');
    expect(json.items.map((e) => e.action)).toContain('api-token.create');
    const future = JSON.parse((await run('audit', '--since', '2999-01-01T00:00:00Z', '-o', 'json', ...conn())).out) as { items: unknown[] };
    expect(future.items).toEqual([]);
    const bad = await run('audit', '--since', 'yesterday', ...conn());
    expect(bad.code).not.toBe(0);
    const viewer = (await fleet.admin.createApiToken({ role: 'viewer' })).token;
    const refused = await run('audit', ...conn(viewer));
    expect(refused.err).toContain('this needs the operator role');
  });
});
