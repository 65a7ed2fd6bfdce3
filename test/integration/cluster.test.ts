import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { Agent, loadIdentity } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { type RunningServer, type ServerOptions, startServer } from '@edgefleet/server';
import pg from 'pg';
import { pino } from 'pino';
import { Agent as Dispatcher, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test-support/fleet.js';
import { createTestDatabase } from '../../test-support/pg-database.js';

/** The name agents use through the load balancer: every replica is given it as --hostname. */
const LB_NAME = 'fleet.lb.example';
const PG_BIN = process.env.EDGEFLEET_PG_BIN ?? '/usr/lib/postgresql/15/bin';

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(body: AsyncIterable<unknown>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string; hint?: string };
  }
  throw new Error('expected the start to be refused');
}

/** Every row of every table of the database, as text: what a stolen dump or backup holds. */
async function everyRow(db: string): Promise<string> {
  const client = new pg.Client({ connectionString: db });
  await client.connect();
  try {
    const tables = await client.query<{ table_name: string }>(
      "select table_name from information_schema.tables where table_schema = 'public' and table_type = 'BASE TABLE'",
    );
    let text = '';
    for (const { table_name } of tables.rows) {
      const rows = await client.query(`select * from "${table_name}"`);
      // bytea arrives as a Buffer: render it as pg_dump would (hex) and as raw bytes.
      for (const row of rows.rows)
        for (const v of Object.values(row)) text += Buffer.isBuffer(v) ? `${v.toString('hex')}\n${v.toString('latin1')}\n` : `${JSON.stringify(v)}\n`;
    }
    return text;
  } finally {
    await client.end();
  }
}

async function clusterRows(db: string): Promise<Array<{ name: string; value: string }>> {
  const client = new pg.Client({ connectionString: db });
  await client.connect();
  try {
    return (await client.query<{ name: string; value: string }>('select name, value from cluster_material order by name')).rows;
  } finally {
    await client.end();
  }
}

/** The server certificate a replica presents for `servername`, verified against `ca` with the standard checks. */
function presentedCertificate(port: number, ca: string, servername: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca, servername }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert === undefined) reject(new Error('no certificate'));
      else resolve(cert);
    });
    socket.on('error', reject);
  });
}

describe('server replicas on PostgreSQL share no volume', () => {
  const root = mkdtempSync(join(tmpdir(), 'edgefleet-cluster-'));
  const secretFile = join(root, 'cluster-secret');
  const wrongSecretFile = join(root, 'wrong-secret');
  writeFileSync(secretFile, `${randomBytes(36).toString('base64')}\n`, { mode: 0o600 });
  writeFileSync(wrongSecretFile, `${randomBytes(36).toString('base64')}\n`, { mode: 0o600 });
  const log = pino({ level: 'silent' });
  const servers: RunningServer[] = [];
  const clients: EdgefleetClient[] = [];
  const replica = async (name: string, db: string, extra: Partial<ServerOptions> = {}): Promise<RunningServer> => {
    const s = await startServer({
      dataDir: join(root, name),
      listen: '127.0.0.1:0',
      db,
      clusterSecretFile: secretFile,
      hostnames: [LB_NAME],
      heartbeatIntervalMs: 1000,
      logger: log,
      ...extra,
    });
    servers.push(s);
    return s;
  };
  const client = (s: RunningServer, token: string, ca: string): EdgefleetClient => {
    const c = new EdgefleetClient({ server: s.url, token, ca });
    clients.push(c);
    return c;
  };

  let db: string;
  let a: RunningServer;
  let b: RunningServer;
  let ca: string;
  let adminToken: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Two replicas at once on an empty database, each with an empty data dir of its own.
    [a, b] = await Promise.all([replica('a', db), replica('b', db)]);
    ca = readFileSync(a.caCertPath, 'utf8');
    const creator = [a, b].find((s) => s.adminTokenCreated);
    adminToken = readFileSync(creator?.adminTokenFile as string, 'utf8').trim();
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(servers.map((s) => s.close()));
    rmSync(root, { recursive: true, force: true });
  });

  it('ends with one CA and one initial admin token when two replicas start at once on an empty database', async () => {
    expect(b.caFingerprint).toBe(a.caFingerprint);
    expect(readFileSync(b.caCertPath, 'utf8')).toBe(ca);
    expect([a.adminTokenCreated, b.adminTokenCreated].filter(Boolean)).toHaveLength(1);
    expect((await clusterRows(db)).map((r) => r.name)).toEqual(['ca.crt', 'ca.key', 'check', 'kdf', 'registry-secrets.key']);
    // No key material on either replica's disk: only the public CA certificate.
    for (const dir of ['a', 'b'])
      for (const file of ['ca.key', 'server.key', 'registry-secrets.key']) expect(existsSync(join(root, dir, file)), `${dir}/${file}`).toBe(false);
    // Each replica serves a certificate from the shared CA valid for the load balancer's name.
    for (const s of [a, b]) {
      const cert = await presentedCertificate(s.port, ca, LB_NAME);
      expect(cert.checkHost(LB_NAME)).toBe(LB_NAME);
      expect(cert.verify(new X509Certificate(ca).publicKey)).toBe(true);
    }
  });

  it('accepts on replica B, over mTLS, an agent enrolled through replica A', async () => {
    const adminA = client(a, adminToken, ca);
    const token = (await adminA.createBootstrapToken({ uses: 1 })).token;
    const hwRoot = join(root, 'hw');
    const agentDir = join(root, 'agent');
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial: 'aaaaaaaaaaaa0001' });
    const viaA = new Agent({ server: a.url, dataDir: agentDir, hwRoot, token, random: () => 0.5, log: pino({ level: 'silent' }) });
    const doneA = viaA.run();
    const nodeId = await eventually(() => viaA.state.lastHeartbeatAt !== undefined && viaA.state.nodeId, 60_000, 'enrollment through A');
    viaA.stop();
    await doneA;
    // The same identity, no token, now talking to B only.
    const viaB = new Agent({ server: b.url, dataDir: agentDir, hwRoot, random: () => 0.5, log: pino({ level: 'silent' }) });
    const doneB = viaB.run();
    try {
      const seen = Date.now();
      await eventually(() => (viaB.state.lastHeartbeatAt ?? 0) >= seen, 60_000, 'a heartbeat accepted by B');
      expect(viaB.state.nodeId).toBe(nodeId);
      expect(loadIdentity(agentDir)?.nodeId).toBe(nodeId);
      expect((await client(b, adminToken, ca).getNode(nodeId)).status).toBe('online');
    } finally {
      viaB.stop();
      await doneB.catch(() => {});
    }
  }, 120_000);

  it('stores artifacts in the database: pushed through A, read with Range and resumed from B whose data dir is empty', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 54_321); // four chunks, the last partial
    const digest = sha(data);
    const pushed = await client(a, adminToken, ca).pushArtifact(Readable.from([data.subarray(0, 700_000), data.subarray(700_000)]));
    expect(pushed).toMatchObject({ digest, size: data.length });
    expect(existsSync(join(root, 'b', 'artifacts'))).toBe(false);
    expect(existsSync(join(root, 'a', 'artifacts'))).toBe(false);
    const dispatcher = new Dispatcher({ connect: { ca } });
    try {
      const get = (s: RunningServer, headers: Record<string, string> = {}) =>
        request(`${s.url}/v1/artifacts/${digest}`, { headers: { authorization: `Bearer ${adminToken}`, ...headers }, dispatcher });
      // A range across the chunk boundaries at 1 MiB and 2 MiB.
      const mid = await get(b, { range: 'bytes=1000000-2200000' });
      expect(mid.statusCode).toBe(206);
      expect(mid.headers['content-range']).toBe(`bytes 1000000-2200000/${data.length}`);
      expect((await readAll(mid.body)).equals(data.subarray(1_000_000, 2_200_001))).toBe(true);
      // A download from A that breaks off, resumed from B with If-Range.
      const first = await get(a);
      const got: Buffer[] = [];
      let n = 0;
      for await (const c of first.body) {
        got.push(c as Buffer);
        n += (c as Buffer).length;
        if (n > 1_500_000) break;
      }
      const head = Buffer.concat(got);
      const rest = await get(b, { range: `bytes=${head.length}-`, 'if-range': `"${digest}"` });
      expect(rest.statusCode).toBe(206);
      expect(Buffer.concat([head, await readAll(rest.body)]).equals(data)).toBe(true);
      const suffix = await get(b, { range: 'bytes=-10' });
      expect((await readAll(suffix.body)).equals(data.subarray(data.length - 10))).toBe(true);
      const past = await get(b, { range: `bytes=${data.length}-` });
      expect(past.statusCode).toBe(416);
      await past.body.dump();
      expect((await client(b, adminToken, ca).listArtifacts()).map((x) => x.digest)).toContain(digest);
    } finally {
      // destroy, not close: close waits for bodies a failed assertion left unread.
      await dispatcher.destroy();
    }
  }, 120_000);

  it('refuses a replica given the wrong secret, with what to do, and writes nothing', async () => {
    const before = await clusterRows(db);
    const err = await rejection(replica('wrong', db, { clusterSecretFile: wrongSecretFile }));
    expect(err).toMatchObject({
      code: 'startup_failed',
      message: expect.stringMatching(/cluster secret in .*wrong-secret is not the one this PostgreSQL database was initialized with/),
      hint: expect.stringMatching(/same --cluster-secret-file/),
    });
    expect(await clusterRows(db)).toEqual(before);
    expect(existsSync(join(root, 'wrong'))).toBe(false);
  });

  it('refuses a replica without a secret on a database that has one', async () => {
    const err = await rejection(startServer({ dataDir: join(root, 'nosecret'), listen: '127.0.0.1:0', db, hostnames: [LB_NAME], logger: log }));
    expect(err).toMatchObject({
      code: 'config',
      message: expect.stringMatching(/started without one/),
      hint: expect.stringMatching(/--cluster-secret-file FILE/),
    });
    expect(existsSync(join(root, 'nosecret'))).toBe(false);
  });

  it('refuses a secret file other users can read, before touching the database', async () => {
    const loose = join(root, 'loose-secret');
    writeFileSync(loose, randomBytes(36).toString('base64'), { mode: 0o644 });
    const err = await rejection(replica('loose', db, { clusterSecretFile: loose }));
    expect(err).toMatchObject({
      code: 'config',
      message: expect.stringMatching(/accessible to other users/),
      hint: `restrict it to the server's user: chmod 600 ${loose}`,
    });
  });
});

describe('the database of replicas, stolen', () => {
  const root = mkdtempSync(join(tmpdir(), 'edgefleet-cluster-dump-'));
  const secretFile = join(root, 'cluster-secret');
  writeFileSync(secretFile, `${randomBytes(36).toString('base64')}\n`, { mode: 0o600 });
  const log = pino({ level: 'silent' });
  let db: string;
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('holds no private key, raw key bytes or registry password, and a row moved to another name does not open', async () => {
    // A server that ran on SQLite first: its data dir has a CA and a registry key, which
    // the first replica takes into the database, so their bytes are known here.
    const dataDir = join(root, 'a');
    const sqlite = await startServer({ dataDir, listen: '127.0.0.1:0', logger: log });
    const sqliteAdmin = new EdgefleetClient({
      server: sqlite.url,
      token: readFileSync(sqlite.adminTokenFile, 'utf8').trim(),
      ca: readFileSync(sqlite.caCertPath, 'utf8'),
    });
    await sqliteAdmin.createRegistry({ name: 'old', server: 'https://old.example', username: 'u', password: 'old-password-1' });
    await sqliteAdmin.close();
    await sqlite.close();
    const caKeyPem = readFileSync(join(dataDir, 'ca.key'), 'utf8');
    const caKeyDer = Buffer.from(caKeyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const registryKey = Buffer.from(readFileSync(join(dataDir, 'registry-secrets.key'), 'utf8').trim(), 'base64');
    expect(caKeyDer.length).toBeGreaterThan(100);

    db = await createTestDatabase();
    const a = await startServer({ dataDir, listen: '127.0.0.1:0', db, clusterSecretFile: secretFile, logger: log });
    const password = `pw-${randomBytes(12).toString('hex')}`;
    try {
      expect(a.caFingerprint).toBe(sqlite.caFingerprint); // enrolled nodes stay trusted
      const admin = new EdgefleetClient({ server: a.url, token: readFileSync(a.adminTokenFile, 'utf8').trim(), ca: readFileSync(a.caCertPath, 'utf8') });
      await admin.createRegistry({ name: 'harbor', server: 'https://harbor.example', username: 'robot', password });
      await admin.close();
    } finally {
      await a.close();
    }

    const dumps = [await everyRow(db)];
    if (existsSync(join(PG_BIN, 'pg_dump')))
      dumps.push(execFileSync(join(PG_BIN, 'pg_dump'), ['--no-owner', '--dbname', db], { encoding: 'latin1', maxBuffer: 256 * 1024 * 1024 }));
    for (const dump of dumps) {
      expect(dump).toContain('scrypt-v1:'); // the dump does hold the cluster rows
      expect(dump).toContain('harbor.example');
      expect(dump).not.toContain('PRIVATE KEY');
      for (const [what, bytes] of [
        ['CA key', caKeyDer],
        ['CA key body', caKeyDer.subarray(caKeyDer.length - 48)],
        ['registry key', registryKey],
      ] as const) {
        for (const form of [bytes.toString('base64'), bytes.toString('hex'), bytes.toString('latin1'), bytes.toString('base64').slice(8, 40)])
          expect(dump.includes(form), `${what} as ${form.slice(0, 12)}…`).toBe(false);
      }
      expect(dump).not.toContain(password);
    }

    // The attack on the rows themselves: ca.key's row given the registry key's ciphertext.
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    try {
      await client.query("update cluster_material set value = (select value from cluster_material where name = 'registry-secrets.key') where name = 'ca.key'");
    } finally {
      await client.end();
    }
    const err = await rejection(startServer({ dataDir: join(root, 'b'), listen: '127.0.0.1:0', db, clusterSecretFile: secretFile, logger: log }));
    expect(err).toMatchObject({ code: 'startup_failed', message: expect.stringMatching(/row "ca.key" .* does not decrypt although the secret is right/) });
  }, 120_000);
});
