/**
 * Server replicas on one PostgreSQL: one elected leader runs the singleton work; a leader
 * that stops renewing is replaced; an old leader's writes are fenced by its lease term; and
 * long polls on one replica wake on changes committed through another (LISTEN/NOTIFY).
 * The replicas share a copy of one data dir (CA and TLS material) and the database.
 */
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent } from '@edgefleet/agent';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetClient, endorseKey } from '@edgefleet/protocol/node';
import { createServerLogger, type RunningServer, type ServerOptions, startServer } from '@edgefleet/server';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../../test-support/fleet.js';
import { createTestDatabase } from '../../test-support/pg-database.js';
import { aYearFromNow, trustRootKey } from '../../test-support/release-keys.js';

const NODES = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
const ROLLOUT = { steps: [{ percent: 50 }, { percent: 100 }], gates: { minRequests: 1 } };

interface Replica {
  name: string;
  server: RunningServer;
  log: () => string;
}

describe('server replicas on PostgreSQL', () => {
  let dir: string;
  let db: string;
  const replicas: Replica[] = [];
  const clients: EdgefleetClient[] = [];
  let agent: Agent | undefined;
  let agentDone: Promise<void> | undefined;
  let ca: string;
  let adminToken: string;

  async function startReplica(name: string, dataDir: string, opts: Partial<ServerOptions>): Promise<Replica> {
    let text = '';
    const logger = createServerLogger(
      'info',
      new Writable({
        write(chunk, _enc, cb) {
          text += chunk.toString();
          cb();
        },
      }),
    );
    const server = await startServer({
      dataDir,
      listen: '127.0.0.1:0',
      db,
      logger,
      replicaId: name,
      requireSigned: false,
      // Short leases so the test runs in seconds (yet long enough for a loaded CI machine); the
      // long-poll fallback long, so only NOTIFY wakes polls quickly; rollout passes only when
      // kicked (on gaining the lease, an operator command, or by the test).
      lease: { leaseMs: 6_000, renewMs: 1_000 },
      desiredCheckIntervalMs: 60_000,
      rolloutIntervalMs: 600_000,
      ...opts,
    });
    const r = { name, server, log: () => text };
    replicas.push(r);
    return r;
  }

  const client = (r: Replica): EdgefleetClient => {
    const c = new EdgefleetClient({ server: r.server.url, token: adminToken, ca });
    clients.push(c);
    return c;
  };
  const leaders = (): Replica[] => replicas.filter((r) => r.server.leader.isLeader);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-replicas-'));
    db = await createTestDatabase();
    const a = await startReplica('replica-a', join(dir, 'a'), {});
    ca = readFileSync(a.server.caCertPath, 'utf8');
    adminToken = readFileSync(a.server.adminTokenFile, 'utf8').trim();
    await eventually(() => a.server.leader.isLeader, 30_000, 'replica A to lead');
    cpSync(join(dir, 'a'), join(dir, 'b'), { recursive: true });
    cpSync(join(dir, 'a'), join(dir, 'c'), { recursive: true });
    await startReplica('replica-b', join(dir, 'b'), {});
    await startReplica('replica-c', join(dir, 'c'), {});
  });

  afterAll(async () => {
    agent?.stop();
    await agentDone?.catch(() => {});
    await Promise.allSettled(clients.map((c) => c.close()));
    for (const r of replicas) await r.server.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  });

  it('elects one leader, which alone runs the rollout controller', async () => {
    // Several renewal periods: the followers keep trying and never take a live lease.
    for (let i = 0; i < 6; i++) {
      const names = leaders().map((r) => r.name);
      expect(names).toHaveLength(1);
      expect(replicas.filter((r) => r.server.rollouts.started).map((r) => r.name)).toEqual(names);
      await new Promise((r) => setTimeout(r, 500));
    }
    const leader = leaders()[0] as Replica;
    const follower = replicas.find((r) => r !== leader) as Replica;
    expect(leader.log()).toContain('this replica is the leader now (lease term');
    const term = leader.server.leader.term as number;
    expect(await follower.server.store.leases.getLease('leader')).toMatchObject({ holder: leader.name, term });
    expect(follower.server.leader.term).toBe(term);
    // Who leads, on each replica's /metrics (a viewer token; none: 401).
    expect(await client(leader).serverMetrics()).toContain(`edgefleet_leader{replica="${leader.name}"} 1\n`);
    await follower.server.changeBus?.countReplicas(); // counted at its start; the others may have started after
    const fromFollower = await client(follower).serverMetrics();
    expect(fromFollower).toContain(`edgefleet_leader{replica="${follower.name}"} 0\n`);
    expect(fromFollower).toContain(`edgefleet_leader_term{replica="${follower.name}"} ${term}\n`);
    // How many replicas it counts on the database, whose share of a release's pace it takes.
    expect(fromFollower).toContain(`edgefleet_replicas{replica="${follower.name}"} ${replicas.length}\n`);
    const anonymous = new EdgefleetClient({ server: follower.server.url, ca });
    clients.push(anonymous);
    await expect(anonymous.serverMetrics()).rejects.toMatchObject({ status: 401 });
  });

  it('wakes a long poll on one replica when a change is committed through another (NOTIFY, not the 60 s fallback)', async () => {
    const [a, b] = replicas as [Replica, Replica];
    const token = (await client(a).createBootstrapToken({ uses: 1 })).token;
    const hwRoot = join(dir, 'hw');
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial: 'abcdef0123456789' });
    agent = new Agent({ server: b.server.url, dataDir: join(dir, 'agent'), hwRoot, token, random: () => 0.5, log: pino({ level: 'silent' }) });
    agentDone = agent.run();
    agentDone.catch(() => {});
    const running = agent;
    const first = await eventually(() => running.state.desiredVersion, 60_000, 'the agent to get its desired state from replica B');
    // Wait until B's poll is parked (the agent's next poll, with `since` = the version it has).
    await new Promise((r) => setTimeout(r, 1_000));
    // A change through A that alters every node's desired state: a newly trusted release key.
    const root = generateKeyPairSync('ed25519');
    await trustRootKey(client(a), a.server.caFingerprint, root);
    // Generous, but far below B's 60 s periodic check: only the notification can wake it this soon.
    await eventually(() => running.state.desiredVersion !== first, 20_000, 'the long poll on replica B to answer the change made on A');
    expect(b.server.changeBus?.received).toBeGreaterThan(0);

    // B's LISTEN connection is killed: B reconnects, and the next change on A wakes its poll again.
    const admin = new pg.Client({ connectionString: db });
    await admin.connect();
    try {
      const listener = async (): Promise<number | undefined> =>
        (await admin.query<{ pid: number }>(`select pid from pg_stat_activity where application_name = 'edgefleet-changes:replica-b'`)).rows[0]?.pid;
      const before = await listener();
      expect(before).toBeDefined();
      await admin.query('select pg_terminate_backend($1)', [before]);
      await eventually(async () => b.server.changeBus?.listening === true && ((await listener()) ?? before) !== before, 20_000, 'B to listen again');
      await new Promise((r) => setTimeout(r, 1_000));
      const second = running.state.desiredVersion;
      const next = generateKeyPairSync('ed25519').publicKey;
      await client(a).trustKey(
        next.export({ format: 'pem', type: 'spki' }).toString(),
        endorseKey(next, root.privateKey, { fleet: a.server.caFingerprint, expiresAt: aYearFromNow() }),
      );
      await eventually(() => running.state.desiredVersion !== second, 20_000, 'the long poll on B to answer a change on A after the reconnect');
    } finally {
      await admin.end();
    }
  });

  it('replaces a leader that stops renewing, and fences the old leader: its rollout writes are refused', async () => {
    const a = leaders()[0] as Replica;
    const store = a.server.store;
    // Nodes and a staged rollout of revision 1, set up in the store: the rollout waits at step 1 for nodes to report.
    const now = Date.now();
    for (const id of NODES) {
      await store.createNode({
        id,
        name: id,
        hardwareSerial: null,
        detectedLabels: { 'cpu.arch': 'arm64' },
        operatorLabels: { fenced: 'yes' },
        facts: {},
        certSerial: `cert-${id}`,
        certNotAfter: now + 86_400_000,
        lastSeen: now,
        createdAt: now,
      });
    }
    const spec = { selector: 'fenced=yes', release: { version: '1' }, rollout: ROLLOUT } as never;
    await store.writeDeployments(
      [
        {
          deployment: { name: 'fenced', spec, generation: 1, revision: 1, source: null, createdAt: now, updatedAt: now },
          newRevision: { deployment: 'fenced', revision: 1, release: { version: '1' } as never, releaseDigest: 'digest-1', commit: null, createdAt: now },
        },
      ],
      [],
    );
    await eventually(
      async () => {
        a.server.rollouts.kick();
        return (await store.getRollout('fenced')) !== undefined;
      },
      30_000,
      'the leader to start the rollout',
    );
    const eventsBefore = await store.listRolloutEvents({ deployment: 'fenced', limit: 1000 });
    expect(eventsBefore.length).toBeGreaterThan(0);
    const oldTerm = a.server.leader.term as number;

    // The leader (A here) pauses (a GC pause, a partition from the database's point of view): it stops renewing, and keeps
    // believing it leads, its controller still running.
    a.server.leader.suspend();
    const next = await eventually(() => leaders().find((r) => r !== a), 30_000, 'another replica to take the lease');
    expect(next.server.leader.term).toBeGreaterThan(oldTerm);
    expect(a.server.leader.isLeader).toBe(true);
    expect(a.server.rollouts.started).toBe(true);
    // The new leader's first pass (on gaining the lease) has run; it passes again only when kicked.
    await eventually(() => next.log().includes(`lease term ${next.server.leader.term}`), 10_000, 'the new leader to log its term');
    await new Promise((r) => setTimeout(r, 1_000));
    const eventsAtTakeover = await store.listRolloutEvents({ deployment: 'fenced', limit: 1000 });

    // The attack: an operator pause sent to the old leader, whose controller is kicked and tries to apply it.
    await client(a).rolloutCommand('fenced', 'pause');
    await eventually(() => a.log().includes('rollout pass stopped: the write was refused'), 10_000, 'the old leader to be fenced out');
    // Kicked again: refused again. Nothing journaled, the command still queued.
    a.server.rollouts.kick();
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await store.listRolloutEvents({ deployment: 'fenced', limit: 1000 })).toEqual(eventsAtTakeover);
    expect(await store.listRolloutCommands('fenced')).toHaveLength(1);
    expect(a.log()).toContain(`but term ${next.server.leader.term} (held by replica ${next.name}) is current`);

    // The new leader applies it, once.
    next.server.rollouts.kick();
    await eventually(async () => (await store.listRolloutCommands('fenced')).length === 0, 10_000, 'the new leader to apply the pause');
    const after = await store.listRolloutEvents({ deployment: 'fenced', limit: 1000 });
    const seqs = after.map((e) => e.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => (seqs[0] as number) + i));
    expect(after.length).toBeGreaterThan(eventsAtTakeover.length);
    expect(JSON.stringify(await store.getRollout('fenced'))).toContain('Paused');

    // A resumes: its next renewal is refused (newer term), so it stops its work.
    a.server.leader.resume();
    await eventually(() => !a.server.leader.isLeader && !a.server.rollouts.started, 10_000, 'the old leader to step down');
    expect(a.log()).toContain(`this replica lost the leader lease (term ${oldTerm})`);
    expect(leaders().map((r) => r.name)).toEqual([next.name]);
  });

  it('hands the lease over at once when the leader stops cleanly', async () => {
    const current = leaders()[0] as Replica;
    const term = current.server.leader.term as number;
    await current.server.close();
    replicas.splice(replicas.indexOf(current), 1);
    const next = await eventually(() => leaders()[0], 10_000, 'a remaining replica to take the released lease');
    expect(next.server.leader.term).toBeGreaterThan(term);
  });
});
