import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { DeploymentManifestInput, DesiredState, RegistryView } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.js';
import { enrolledIdentity, eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/**
 * Issue 16, registries: `edgefleet registry add` through the CLI against a real server,
 * the password never answered, never in the database's bytes or the server's log, and
 * handed with the desired state only to the node whose workloads pull from the registry.
 */

const PASSWORD = 'Pull-Secret-7f3a9c-of-the-registry';
const REGISTRY_HOST = '127.0.0.1:5443';
const IMAGE = `${REGISTRY_HOST}/team/detector@sha256:${'d'.repeat(64)}`;

function deployment(name: string, line: string, release: Record<string, unknown>): DeploymentManifestInput {
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name }, spec: { selector: `line=${line}`, release: release as never } };
}

/** Every byte the server keeps on disk, file by file (the SQLite database with its WAL, keys, artifacts). */
function filesHolding(dir: string, needle: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if (readFileSync(path).includes(Buffer.from(needle))) found.push(path);
  }
  return found;
}

describe('container registries end to end', () => {
  let fleet: TestFleet;
  let cams: EdgefleetClient;
  let models: EdgefleetClient;
  const env: Record<string, string | undefined> = {};

  /** Runs the CLI with the control plane from EDGEFLEET_SERVER, as `registry add` needs it. */
  const cli = (...args: string[]) => runCli(...args, '--token', fleet.adminToken, '--ca', join(fleet.dir, 'server', 'ca.crt'));

  /** A node enrolled by a real agent with `line` as a label, then polled by hand with its certificate. */
  async function enrolledNode(line: string): Promise<EdgefleetClient> {
    const identity = await enrolledIdentity(fleet, 'pi5-nohat', { labels: { line } });
    return new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca, cert: identity.certPem, key: identity.keyPem });
  }

  beforeAll(async () => {
    fleet = await startTestFleet({ requireSigned: false });
    for (const k of ['EDGEFLEET_SERVER', 'EDGEFLEET_TOKEN', 'EDGEFLEET_CA', 'XDG_CONFIG_HOME']) env[k] = process.env[k];
    process.env.EDGEFLEET_SERVER = fleet.server.url;
    delete process.env.EDGEFLEET_TOKEN;
    delete process.env.EDGEFLEET_CA;
    // No login config of whoever runs the tests.
    process.env.XDG_CONFIG_HOME = join(fleet.dir, 'config');
    cams = await enrolledNode('cams');
    models = await enrolledNode('models');
    await fleet.admin.apply([
      deployment('detector', 'cams', { version: '1', runtime: { kind: 'container', image: IMAGE, accelerator: 'none' } }),
      deployment('counter', 'models', { version: '1', runtime: { kind: 'process', command: '/bin/true', accelerator: 'none' } }),
    ]);
  }, 90_000);
  afterAll(async () => {
    for (const [k, v] of Object.entries(env)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await cams?.close();
    await models?.close();
    await fleet?.close();
  });

  it('adds a registry with the CLI, lists it without the password, and keeps the password out of the database file and the log', async () => {
    const passwordFile = join(fleet.dir, 'pull.pass');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    // The registry's CA: any real certificate does (the fleet CA here).
    const caFile = join(fleet.dir, 'server', 'ca.crt');
    const added = await cli(
      'registry',
      'add',
      'harbor',
      '--server',
      `https://${REGISTRY_HOST}`,
      '--username',
      'robot',
      '--password-file',
      passwordFile,
      '--ca-file',
      caFile,
    );
    expect(added.err).not.toContain('error');
    expect(added.code).toBe(0);
    expect(added.out).toBe('registry/harbor added\n');

    const table = await cli('registry', 'list');
    expect(table.code).toBe(0);
    expect(table.out.split('\n')[0]).toMatch(/^NAME\s+SERVER\s+USERNAME\s+PASSWORD\s+CA\s+UPDATED$/);
    expect(table.out).toMatch(/harbor\s+https:\/\/127\.0\.0\.1:5443\s+robot\s+set\s+.*edgefleet fleet CA/);
    const json = await cli('registry', 'list', '-o', 'json');
    const items = (JSON.parse(json.out) as { items: RegistryView[] }).items;
    expect(items).toEqual([expect.objectContaining({ name: 'harbor', host: REGISTRY_HOST, username: 'robot', hasPassword: true })]);
    const audit = await cli('audit');
    expect(audit.out).toMatch(/registry\.add\s+harbor/);
    for (const out of [table.out, json.out, audit.out, JSON.stringify(await fleet.admin.listRegistries())]) expect(out).not.toContain(PASSWORD);

    // Neither the SQLite file (nor its WAL) nor anything else in the data dir holds it; the key file sits there, 0600.
    expect(filesHolding(join(fleet.dir, 'server'), PASSWORD)).toEqual([]);
    expect(filesHolding(join(fleet.dir, 'server'), 'robot').some((p) => p.includes('fleet.db'))).toBe(true);
    expect(fleet.serverLog()).not.toContain(PASSWORD);
  });

  it("hands the credentials to the node whose workload pulls from the registry's host, and to no other", async () => {
    const a = await eventually(async () => {
      const d = (await cams.desired(undefined, 0)) as DesiredState;
      return d.registries.length > 0 && d;
    });
    expect(a.workloads.map((w) => w.deployment)).toEqual(['detector']);
    expect(a.registries).toEqual([
      {
        name: 'harbor',
        server: `https://${REGISTRY_HOST}`,
        username: 'robot',
        password: PASSWORD,
        caPem: `${readFileSync(join(fleet.dir, 'server', 'ca.crt'), 'utf8').trim()}\n`,
      },
    ]);
    const b = (await models.desired(undefined, 0)) as DesiredState;
    expect(b.workloads.map((w) => w.deployment)).toEqual(['counter']);
    expect(b.registries).toEqual([]);
    expect(JSON.stringify(b)).not.toContain(PASSWORD);
  });

  it('refuses what it must, saying why: the control plane from --server, a --password flag, http, a site-scoped token, a viewer', async () => {
    // `--server` of `registry add` is the registry: without EDGEFLEET_SERVER there is no control plane.
    process.env.EDGEFLEET_SERVER = '';
    const noPlane = await cli('registry', 'add', 'x', '--server', fleet.server.url);
    process.env.EDGEFLEET_SERVER = fleet.server.url;
    expect(noPlane.code).not.toBe(0);
    expect(noPlane.err).toContain('no server given');

    const flag = await cli('registry', 'add', 'x', '--server', 'https://x.example', '--username', 'u', '--password', PASSWORD);
    expect(flag.code).not.toBe(0);
    expect(flag.err).toContain('--password is refused');
    expect(flag.err).toContain('--password-file');

    const http = await cli('registry', 'add', 'x', '--server', 'http://x.example:5000');
    expect(http.code).not.toBe(0);
    expect(http.err).toMatch(/not https/);

    const clash = await cli('registry', 'add', 'other', '--server', `https://${REGISTRY_HOST}/`);
    expect(clash.err).toContain(`registry "harbor" already has host ${REGISTRY_HOST}`);

    const scoped = fleet.client((await fleet.admin.createApiToken({ role: 'operator', sites: ['store-12'] })).token);
    await expect(scoped.createRegistry({ name: 'x', server: 'https://x.example' })).rejects.toMatchObject({ status: 403 });
    await expect(scoped.deleteRegistry('harbor')).rejects.toMatchObject({ status: 403 });
    expect((await scoped.listRegistries()).items.map((r) => r.name)).toEqual(['harbor']);
    const viewer = fleet.client((await fleet.admin.createApiToken({ role: 'viewer' })).token);
    await expect(viewer.createRegistry({ name: 'x', server: 'https://x.example' })).rejects.toMatchObject({ status: 403 });
    expect((await viewer.listRegistries()).items).toHaveLength(1);
    expect((await fleet.admin.listRegistries()).items.map((r) => r.name)).toEqual(['harbor']);
  });

  it('deletes a registry in use with a warning, and a waiting long poll of the node answers without its credentials', async () => {
    const before = (await cams.desired(undefined, 0)) as DesiredState;
    expect(before.registries).toHaveLength(1);
    // The node waits on its current version: the delete alone must wake it.
    const poll = cams.desired(before.version, 25);
    await new Promise((r) => setTimeout(r, 300));
    const deleted = await cli('registry', 'delete', 'harbor');
    expect(deleted.code).toBe(0);
    expect(deleted.out).toBe('registry/harbor deleted\n');
    expect(deleted.err).toMatch(/warning: deployments detector still pull images from this registry/);
    const after = await poll;
    expect(after?.registries).toEqual([]);
    expect(after?.workloads.map((w) => w.deployment)).toEqual(['detector']);
    expect((await cli('registry', 'list')).err).toContain('No registries yet');
  }, 40_000);
});
