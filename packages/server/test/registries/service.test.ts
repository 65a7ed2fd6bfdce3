import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgefleetError, ReleaseSchema } from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/context.js';
import type { DataDir } from '../../src/data-dir.js';
import { createCertificateAuthority } from '../../src/pki/ca.js';
import { loadRegistryAccess } from '../../src/registries/access.js';
import { REGISTRY_SECRETS_KEY_FILE } from '../../src/registries/secret-box.js';
import { createRegistry, deleteRegistry, listRegistries } from '../../src/registries/service.js';
import { openStore, type Store } from '../../src/store/index.js';

const dirs: string[] = [];
const stores: Store[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const PASSWORD = 'correct horse battery staple';
const DAY = 86_400_000;

async function context(): Promise<{ ctx: ServerContext; dir: string; logs: string[]; desired: () => number }> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-registries-'));
  dirs.push(dir);
  const store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
  stores.push(store);
  const logs: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(line) });
  const events = new EventEmitter();
  let desired = 0;
  events.on('desired', () => desired++);
  const ctx = { store, dataDir: { path: dir } as DataDir, clock: () => Date.now(), log, events } as unknown as ServerContext;
  return { ctx, dir, logs, desired: () => desired };
}

async function refusal(p: Promise<unknown>): Promise<EdgefleetError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(EdgefleetError);
    return err as EdgefleetError;
  }
  throw new Error('the call was not refused');
}

describe('registries service', () => {
  it('adds a registry with its password sealed, shows it without the password, and audits it in the same unit', async () => {
    const { ctx, dir, desired } = await context();
    const ca = await createCertificateAuthority(new Date());
    const put = await createRegistry(ctx, 'token:t1', {
      name: 'harbor',
      server: 'https://Harbor.example:5000/',
      username: 'robot',
      password: PASSWORD,
      caPem: ca.certPem,
    });
    expect(put.replaced).toBe(false);
    expect(put.registry).toMatchObject({
      name: 'harbor',
      server: 'https://harbor.example:5000',
      host: 'harbor.example:5000',
      username: 'robot',
      hasPassword: true,
    });
    expect(put.registry.ca).toHaveLength(1);
    expect(put.registry.ca[0]?.subject).toContain('edgefleet fleet CA');
    expect(put.registry.ca[0]?.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(desired()).toBe(1);
    const listed = await listRegistries(ctx);
    expect(listed.items).toEqual([put.registry]);
    expect(JSON.stringify(listed)).not.toContain(PASSWORD);
    // Stored sealed: neither the row nor the database file holds the password.
    const stored = await ctx.store.getRegistry('harbor');
    expect(stored?.passwordSealed).toMatch(/^v1:/);
    expect(readFileSync(join(dir, 'fleet.db')).includes(Buffer.from(PASSWORD))).toBe(false);
    const audit = await ctx.store.listAudit(10);
    expect(audit[0]).toMatchObject({ actor: 'token:t1', action: 'registry.add', target: 'harbor' });
    expect(audit[0]?.details).toMatchObject({ server: 'https://harbor.example:5000', username: 'robot', hasPassword: true });
    expect(JSON.stringify(audit)).not.toContain(PASSWORD);
    // Nodes get it opened.
    expect(await loadRegistryAccess(ctx)).toEqual([
      { name: 'harbor', server: 'https://harbor.example:5000', caPem: ca.certPem, username: 'robot', password: PASSWORD },
    ]);
  });

  it('replaces a registry of the same name whole, keeping when it was created', async () => {
    const { ctx } = await context();
    const first = await createRegistry(ctx, 'token:t1', { name: 'harbor', server: 'https://harbor.example', username: 'robot', password: PASSWORD });
    const second = await createRegistry(ctx, 'token:t1', { name: 'harbor', server: 'https://harbor2.example' });
    expect(second.replaced).toBe(true);
    expect(second.registry).toMatchObject({ host: 'harbor2.example', username: null, hasPassword: false, ca: [], createdAt: first.registry.createdAt });
    expect((await ctx.store.listAudit(10))[0]).toMatchObject({ action: 'registry.replace', target: 'harbor' });
    expect((await loadRegistryAccess(ctx))[0]?.password).toBeNull();
  });

  it('refuses a second registry for a host with 409 naming the first', async () => {
    const { ctx } = await context();
    await createRegistry(ctx, 'token:t1', { name: 'harbor', server: 'https://harbor.example:5000' });
    const err = await refusal(createRegistry(ctx, 'token:t1', { name: 'other', server: 'https://HARBOR.example:5000/' }));
    expect(err.status).toBe(409);
    expect(err.message).toBe('registry "harbor" already has host harbor.example:5000');
    expect((await listRegistries(ctx)).items.map((r) => r.name)).toEqual(['harbor']);
  });

  it('refuses a CA that does not parse or has expired, with 400 on caPem', async () => {
    const { ctx } = await context();
    const garbage = await refusal(
      createRegistry(ctx, 'token:t1', { name: 'h', server: 'https://h.example', caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' }),
    );
    expect(garbage.status).toBe(400);
    expect(garbage.message).toMatch(/the CA certificate does not parse/);
    expect(garbage.field).toBe('caPem');
    const ca = await createCertificateAuthority(new Date());
    ctx.clock = () => Date.now() + 3700 * DAY;
    const expired = await refusal(createRegistry(ctx, 'token:t1', { name: 'h', server: 'https://h.example', caPem: ca.certPem }));
    expect(expired.message).toMatch(/expired on/);
    expect(await ctx.store.listRegistries()).toEqual([]);
  });

  it('stores nothing when the audit entry fails: the change and its entry are one unit', async () => {
    const { ctx } = await context();
    ctx.afterChange = () => {
      throw new Error('killed before the audit entry');
    };
    await expect(createRegistry(ctx, 'token:t1', { name: 'h', server: 'https://h.example' })).rejects.toThrow('killed');
    expect(await ctx.store.listRegistries()).toEqual([]);
  });

  it('deletes a registry in use with a warning naming the deployments, and 404s an unknown one', async () => {
    const { ctx, desired } = await context();
    await createRegistry(ctx, 'token:t1', { name: 'harbor', server: 'https://harbor.example:5000' });
    const release = ReleaseSchema.parse({
      version: '1',
      runtime: { kind: 'container', image: `harbor.example:5000/team/x@sha256:${'c'.repeat(64)}`, accelerator: 'none' },
    });
    await ctx.store.writeDeployments(
      [
        {
          deployment: { name: 'cams', spec: { selector: 'site=a' } as never, generation: 1, revision: 1, source: null, createdAt: 1, updatedAt: 1 },
          newRevision: { deployment: 'cams', revision: 1, release, releaseDigest: 'd', commit: null, createdAt: 1 },
        },
      ],
      [],
    );
    const deleted = await deleteRegistry(ctx, 'token:t1', 'harbor');
    expect(deleted).toMatchObject({ deleted: 'harbor', inUseBy: ['cams'] });
    expect(deleted.warning).toMatch(/deployments cams still pull images from this registry/);
    expect(desired()).toBe(2);
    expect((await ctx.store.listAudit(10))[0]).toMatchObject({ action: 'registry.delete', target: 'harbor', details: { inUseBy: ['cams'] } });
    expect((await refusal(deleteRegistry(ctx, 'token:t1', 'harbor'))).status).toBe(404);
    await createRegistry(ctx, 'token:t1', { name: 'idle', server: 'https://idle.example' });
    expect(await deleteRegistry(ctx, 'token:t1', 'idle')).toEqual({ deleted: 'idle', inUseBy: [], warning: null });
  });

  it('keeps answering desired state when a password does not open: that registry goes out without it, and the server says why once', async () => {
    const { ctx, dir, logs } = await context();
    await createRegistry(ctx, 'token:t1', { name: 'harbor', server: 'https://harbor.example', username: 'robot', password: PASSWORD });
    await createRegistry(ctx, 'token:t1', { name: 'plain', server: 'https://plain.example', username: 'u', password: 'other' });
    // Another key in place of the one the passwords were sealed with (a replica's own data dir).
    writeFileSync(join(dir, REGISTRY_SECRETS_KEY_FILE), `${Buffer.alloc(32, 7).toString('base64')}\n`);
    delete ctx.registrySecrets;
    const access = await loadRegistryAccess(ctx);
    expect(access.map((r) => [r.name, r.username, r.password])).toEqual([
      ['harbor', 'robot', null],
      ['plain', 'u', null],
    ]);
    await loadRegistryAccess(ctx);
    const errors = logs.filter((l) => l.includes('nodes get it without its password'));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain('does not decrypt');
    expect(logs.join('')).not.toContain(PASSWORD);
  });
});
