import { generateKeyPairSync } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { DeploymentManifestInput, DesiredState } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { type RunningServer, type Store, startServer } from '@edgefleet/server';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeBus } from '../../packages/server/src/replicas/change-bus.js';
import { enrolledIdentity, eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { createTestDatabase } from '../../test-support/pg-database.js';
import { trustRootKey } from '../../test-support/release-keys.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'examples/models/mlp-4-8-3.onnx');

function manifest(name: string, selector: string, artifact: string): DeploymentManifestInput {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: { selector, release: { version: '1', model: { artifact, format: 'onnx' } } as never },
  };
}

/** Counts calls of some store methods, as the server makes them from now on. */
function countCalls<K extends keyof Store>(store: Store, names: K[]): Record<K, number> {
  const counts = Object.fromEntries(names.map((n) => [n, 0])) as Record<K, number>;
  for (const name of names) {
    const original = (store[name] as (...args: unknown[]) => unknown).bind(store);
    (store as unknown as Record<K, unknown>)[name] = (...args: unknown[]) => {
      counts[name]++;
      return original(...args);
    };
  }
  return counts;
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Agents long-poll one replica while operators change things through another; the polls
 * hear of it from the database alone, and idle polls cost the store nothing.
 */
describe('desired-state long polls on two replicas sharing PostgreSQL', () => {
  let fleet: TestFleet;
  let other: RunningServer;
  let operator: EdgefleetClient;
  let node: EdgefleetClient;
  let nodeId: string;
  let artifact: string;
  let db: string;
  let nodeIdentity: { cert: string; key: string };

  beforeAll(async () => {
    db = await createTestDatabase();
    // Many polls of one node stand in for many nodes' polls: allow them (one per node by default).
    fleet = await startTestFleet({ db, requireSigned: false, heartbeatIntervalMs: 500, quotas: { longPollsPerNode: 12 } });
    // A second replica: the same data dir (CA, artifacts) and database, its own process state.
    other = await startServer({ dataDir: join(fleet.dir, 'server'), listen: '127.0.0.1:0', db, requireSigned: false, logger: pino({ level: 'silent' }) });
    operator = new EdgefleetClient({ server: other.url, token: fleet.adminToken, ca: fleet.ca });
    artifact = (await fleet.admin.pushArtifact(createReadStream(MODEL), statSync(MODEL).size)).digest;
    await fleet.admin.apply([manifest('line-3', 'line=l3', artifact)]);
    // A node enrolled by a real agent, whose identity then long-polls by hand.
    const identity = await enrolledIdentity(fleet);
    nodeId = identity.nodeId;
    nodeIdentity = { cert: identity.certPem, key: identity.keyPem };
    node = new EdgefleetClient({ server: fleet.server.url, ca: fleet.ca, ...nodeIdentity });
  }, 60_000);
  afterAll(async () => {
    await node?.close();
    await operator?.close();
    await other?.close();
    await fleet?.close();
  });

  /** The node's desired state now: asked without a version, the server always answers one (never a 304). */
  async function currentDesired(): Promise<DesiredState> {
    const desired = await node.desired(undefined, 0);
    if (desired === undefined) throw new Error('GET /v1/agent/desired without a version answered "not modified"');
    return desired;
  }

  it('answers a waiting poll with a key trusted through the other replica', async () => {
    const before = await currentDesired();
    const poll = node.desired(before.version, 25);
    await pause(300);
    const pair = generateKeyPairSync('ed25519');
    const pem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await trustRootKey(operator, fleet.server.caFingerprint, pair);
    // Without the database telling this replica, the poll would end unanswered after 25 s.
    expect((await poll)?.trustedKeys.map((k) => k.publicKey)).toEqual([pem]);
  }, 40_000);

  it('answers a waiting poll when an operator labels the node through the other replica', async () => {
    const before = await currentDesired();
    expect(before.workloads).toEqual([]);
    const poll = node.desired(before.version, 25);
    await pause(300);
    await operator.labelNode(nodeId, { set: { line: 'l3' } });
    expect((await poll)?.workloads.map((w) => w.deployment)).toEqual(['line-3']);
  }, 40_000);

  it('lets many polls sleep through a change for other nodes, loading the inputs once, without reading their node', async () => {
    const current = await currentDesired();
    const calls = countCalls(fleet.server.store, ['getNode', 'listReleaseKeys']);
    const answered: Array<DesiredState | undefined | 'pending'> = Array.from({ length: 12 }, () => 'pending');
    const polls = answered.map((_, i) =>
      node.desired(current.version, 25).then((d) => {
        answered[i] = d;
      }),
    );
    // Each poll's node is read once, as it is authenticated; then they wait.
    await eventually(() => calls.getNode >= 12);
    await pause(300);
    calls.getNode = 0;
    calls.listReleaseKeys = 0;

    // A deployment for other nodes: every poll is woken, computes the same answer, waits on.
    await operator.apply([manifest('line-9', 'line=l9', artifact)]);
    await eventually(() => calls.listReleaseKeys > 0, 10_000, 'this replica to load the new deployment');
    await pause(500);
    expect(answered.every((a) => a === 'pending')).toBe(true);
    expect(calls).toEqual({ getNode: 0, listReleaseKeys: 1 });

    // Then one for this node: each poll reads its node again, and answers.
    await operator.labelNode(nodeId, { set: { line: 'l9' } });
    await Promise.all(polls);
    expect(answered.map((a) => a !== 'pending' && a?.workloads.map((w) => w.deployment))).toEqual(Array(12).fill(['line-9']));
    expect(calls).toEqual({ getNode: 12, listReleaseKeys: 1 });
  }, 40_000);

  it("counts this fleet's replicas on the database, not another fleet's on the same PostgreSQL, for the pace they share", async () => {
    // Another fleet's replica, listening on its own database in the same PostgreSQL cluster.
    const elsewhere = new ChangeBus(await createTestDatabase(), new EventEmitter(), pino({ level: 'silent' }), 'another-fleet');
    await elsewhere.start();
    try {
      expect(elsewhere.replicas).toBe(1);
      await eventually(async () => (await fleet.server.changeBus?.countReplicas()) === 2, 10_000, 'the first replica counts two');
      expect(await other.changeBus?.countReplicas()).toBe(2);
      // A replica that goes away is no longer counted.
      const third = await startServer({
        dataDir: join(fleet.dir, 'server'),
        listen: '127.0.0.1:0',
        db,
        requireSigned: false,
        logger: pino({ level: 'silent' }),
      });
      expect(third.changeBus?.replicas).toBe(3);
      await third.close();
      await eventually(async () => (await other.changeBus?.countReplicas()) === 2, 10_000, 'two replicas again');
    } finally {
      await elsewhere.stop();
    }
  }, 40_000);

  it("refuses an artifact at once after another replica dropped it from the node's desired state, without a notification", async () => {
    // A third replica that hears of other replicas' writes only when it asks the database:
    // no LISTEN (its change bus is stopped, as when that connection is down) and a periodic
    // check a minute apart. A node it served must still lose the artifact at once.
    const third = await startServer({
      dataDir: join(fleet.dir, 'server'),
      listen: '127.0.0.1:0',
      db,
      requireSigned: false,
      desiredCheckIntervalMs: 60_000,
      logger: pino({ level: 'silent' }),
    });
    await third.changeBus?.stop();
    const viaThird = new EdgefleetClient({ server: third.url, ca: fleet.ca, ...nodeIdentity });
    try {
      const stub = join(ROOT, 'examples/models/mlp-4-8-3.stub.json');
      const other = (await fleet.admin.pushArtifact(createReadStream(stub), statSync(stub).size)).digest;
      await operator.labelNode(nodeId, { set: { fetch: 'yes' } });
      await operator.apply([manifest('fetch-scope', 'fetch=yes', other)]);
      const allowed = await viaThird.openArtifact(other);
      expect(allowed.status).toBe(200);
      allowed.body.resume();

      await operator.deleteDeployment('fetch-scope');
      // The attack: the node asks the replica that was not told, straight after the change.
      await expect(viaThird.openArtifact(other)).rejects.toMatchObject({ status: 403 });
    } finally {
      await viaThird.close();
      await third.close();
    }
  }, 40_000);

  it('ends a waiting poll with certificate_revoked when the node is decommissioned through the other replica', async () => {
    const current = await currentDesired();
    const poll = node.desired(current.version, 25);
    await pause(300);
    await operator.deleteNode(nodeId);
    await expect(poll).rejects.toMatchObject({ status: 403, code: 'certificate_revoked' });
  }, 40_000);
});
