import type { Labels } from '@edgefleet/protocol';
import type { Kysely } from 'kysely';
import type { CertificateRecord, NodeChange, NodeLabelsRecord, NodeRecord, NodeRepository, RevocationReason } from '../nodes.js';
import type { Database } from '../schema.js';
import { atomically } from './atomically.js';
import { bumpCounter } from './change-counters.js';
import { num, numOrNull } from './columns.js';
import { type DirectReads, readByValue } from './direct-reads.js';

/** A node's row as the record writes it: the enrollment key columns are set on their own (setEnrollmentKey). */
type NodeRow = Omit<Database['nodes'], 'enrolled_token_id' | 'enrolled_key'>;

function toCertificate(r: Database['certificates']): CertificateRecord {
  return {
    serial: r.serial,
    nodeId: r.node_id,
    issuedAt: num(r.issued_at),
    notAfter: num(r.not_after),
    revokedAt: numOrNull(r.revoked_at),
    fingerprint: r.fingerprint,
    firstUsedAt: numOrNull(r.first_used_at ?? null),
    revokedReason: (r.revoked_reason ?? null) as RevocationReason | null,
  };
}

/** How many ids one query of {@link SqlNodeRepository.listNodesById} binds. */
const LIST_BY_ID_CHUNK = 500;

/** A node's JSON columns parsed, with the text they were parsed from. */
interface ParsedColumns {
  text: { detected: string; operator: string; facts: string };
  detectedLabels: Labels;
  operatorLabels: Labels;
  facts: Record<string, unknown>;
}

/** Parses a node's JSON columns; a column whose text is the same as in `last` keeps last's value. */
function parseColumns(r: NodeRow, last?: ParsedColumns): ParsedColumns {
  return {
    text: { detected: r.detected_labels, operator: r.operator_labels, facts: r.facts },
    detectedLabels: parsedUnlessSame(r.detected_labels, last?.text.detected, last?.detectedLabels),
    operatorLabels: parsedUnlessSame(r.operator_labels, last?.text.operator, last?.operatorLabels),
    facts: parsedUnlessSame(r.facts, last?.text.facts, last?.facts),
  };
}

/** A node's label columns parsed, with the text they were parsed from. */
interface ParsedLabels {
  text: { detected: string; operator: string };
  detectedLabels: Labels;
  operatorLabels: Labels;
}

/** Parses a node's label columns; one whose text is the same as in `last` keeps last's value. */
function parseLabelColumns(r: Pick<NodeRow, 'detected_labels' | 'operator_labels'>, last?: ParsedLabels): ParsedLabels {
  return {
    text: { detected: r.detected_labels, operator: r.operator_labels },
    detectedLabels: parsedUnlessSame(r.detected_labels, last?.text.detected, last?.detectedLabels),
    operatorLabels: parsedUnlessSame(r.operator_labels, last?.text.operator, last?.operatorLabels),
  };
}

/** `lastValue` when a column's text is what it was parsed from last time, else the text parsed. */
function parsedUnlessSame<T>(text: string, lastText: string | undefined, lastValue: T | undefined): T {
  return lastText === text && lastValue !== undefined ? lastValue : (JSON.parse(text) as T);
}

function toNode(r: NodeRow, parsed: ParsedColumns = parseColumns(r)): NodeRecord {
  return {
    id: r.id,
    name: r.name,
    hardwareSerial: r.hardware_serial,
    detectedLabels: parsed.detectedLabels,
    operatorLabels: parsed.operatorLabels,
    facts: parsed.facts,
    certSerial: r.cert_serial,
    certNotAfter: num(r.cert_not_after),
    lastSeen: numOrNull(r.last_seen),
    createdAt: num(r.created_at),
  };
}

function fromNode(n: NodeRecord): NodeRow {
  return {
    id: n.id,
    name: n.name,
    hardware_serial: n.hardwareSerial,
    detected_labels: JSON.stringify(n.detectedLabels),
    operator_labels: JSON.stringify(n.operatorLabels),
    facts: JSON.stringify(n.facts),
    cert_serial: n.certSerial,
    cert_not_after: n.certNotAfter,
    last_seen: n.lastSeen,
    created_at: n.createdAt,
  };
}

/** Node changes kept: far more than a fleet makes between two reads by a replica (2 s). */
const NODE_CHANGES_KEPT = 10_000;

/** Logs, inside the caller's transaction, that a node's labels changed or it was decommissioned. */
async function recordNodeChange(tx: Kysely<Database>, nodeId: string): Promise<void> {
  const generation = await bumpCounter(tx, 'node_changes');
  await tx.insertInto('node_changes').values({ generation, node_id: nodeId }).execute();
  if (generation % 1_000 === 0)
    await tx
      .deleteFrom('node_changes')
      .where('generation', '<=', generation - NODE_CHANGES_KEPT)
      .execute();
}

/**
 * {@link NodeRepository} over Kysely. Decommissioning also deletes what the node reported
 * (telemetry tables): a node's removal takes its data with it, in the same transaction.
 */
/** Heartbeats that wait for the next group write: node ids by the time each was seen. */
interface PendingHeartbeats {
  byTime: Map<number, Set<string>>;
  waiters: Array<{ resolve: () => void; reject: (err: unknown) => void }>;
}

/** Node ids per `IN (…)` list of a group write. */
const GROUP_WRITE_IDS = 500;

export class SqlNodeRepository implements NodeRepository {
  private pendingHeartbeats: PendingHeartbeats | undefined;
  /**
   * The JSON columns of the nodes of the last full list, and of each node read alone since,
   * parsed, by node id. A full list is read by the routes that list nodes or a deployment's
   * status, and was by the rollout controller and the dashboard's watch, which read
   * `listNodeLabels` now; parsing every node's facts and labels anew each time was 6 % of
   * the server's time, and much of its garbage, in a rollout over 7,500 nodes. Reused only
   * for the very same text, so never stale; shared between the reads, so callers must not
   * change them (nothing does). A full list drops the nodes gone since.
   */
  private listed = new Map<string, ParsedColumns>();
  /** The same for the label columns of the last {@link listNodeLabels}. */
  private labelled = new Map<string, ParsedLabels>();
  /** The two reads that authenticate every agent request, run directly when `reads` is given. */
  private readonly nodeById: (id: string) => Promise<Database['nodes'][]>;
  private readonly certificateByFingerprint: (fingerprint: string) => Promise<Database['certificates'][]>;

  constructor(
    private readonly db: Kysely<Database>,
    reads?: DirectReads,
  ) {
    this.nodeById = readByValue(reads, (id) => db.selectFrom('nodes').selectAll().where('id', '=', id));
    this.certificateByFingerprint = readByValue(reads, (fingerprint) => db.selectFrom('certificates').selectAll().where('fingerprint', '=', fingerprint));
  }

  /**
   * A plain heartbeat (only `last_seen` changes) joins the others that arrive in the same
   * turn of the event loop, and they are written together in one transaction, so one commit
   * (one fsync of SQLite's log, one round trip to PostgreSQL) for all of them: a commit per
   * heartbeat held the server's only thread once for every node. Each caller still returns
   * only once its own row is written, or fails with the write.
   */
  private lastSeenInGroup(id: string, at: number): Promise<void> {
    let pending = this.pendingHeartbeats;
    if (pending === undefined) {
      pending = { byTime: new Map(), waiters: [] };
      this.pendingHeartbeats = pending;
      setImmediate(() => void this.writeLastSeen());
    }
    let ids = pending.byTime.get(at);
    if (ids === undefined) {
      ids = new Set();
      pending.byTime.set(at, ids);
    }
    ids.add(id);
    const waiters = pending.waiters;
    return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
  }

  private async writeLastSeen(): Promise<void> {
    const pending = this.pendingHeartbeats;
    this.pendingHeartbeats = undefined;
    if (pending === undefined) return;
    try {
      await this.db.transaction().execute(async (tx) => {
        // Oldest first: a node seen twice in one group ends with its latest time.
        for (const at of [...pending.byTime.keys()].sort((a, b) => a - b)) {
          const ids = [...(pending.byTime.get(at) as Set<string>)];
          for (let i = 0; i < ids.length; i += GROUP_WRITE_IDS) {
            await tx
              .updateTable('nodes')
              .set({ last_seen: at })
              .where('id', 'in', ids.slice(i, i + GROUP_WRITE_IDS))
              .execute();
          }
        }
      });
    } catch (err) {
      for (const w of pending.waiters) w.reject(err);
      return;
    }
    for (const w of pending.waiters) w.resolve();
  }

  async createNode(n: NodeRecord): Promise<void> {
    await this.db.insertInto('nodes').values(fromNode(n)).execute();
  }

  async updateNode(n: NodeRecord): Promise<void> {
    const { id: _id, created_at: _createdAt, ...rest } = fromNode(n);
    await atomically(this.db, async (tx) => {
      await tx.updateTable('nodes').set(rest).where('id', '=', n.id).execute();
      await recordNodeChange(tx, n.id);
    });
  }

  async getNode(id: string): Promise<NodeRecord | undefined> {
    const [r] = await this.nodeById(id);
    if (r === undefined) return undefined;
    // Every request of a node reads its node (http/auth.ts): its facts, a kilobyte or more,
    // are parsed anew only when their text changed (parsing them was 2 % of the server's
    // steady work at 2,000 nodes).
    const parsed = parseColumns(r, this.listed.get(id));
    this.listed.set(id, parsed);
    return toNode(r, parsed);
  }

  async setEnrollmentKey(nodeId: string, tokenId: string, key: string): Promise<void> {
    await this.db.updateTable('nodes').set({ enrolled_token_id: tokenId, enrolled_key: key }).where('id', '=', nodeId).execute();
  }

  async getNodeByEnrollmentKey(tokenId: string, key: string): Promise<NodeRecord | undefined> {
    const r = await this.db.selectFrom('nodes').selectAll().where('enrolled_token_id', '=', tokenId).where('enrolled_key', '=', key).executeTakeFirst();
    return r === undefined ? undefined : toNode(r);
  }

  async getNodeByName(name: string): Promise<NodeRecord | undefined> {
    const r = await this.db.selectFrom('nodes').selectAll().where('name', '=', name).executeTakeFirst();
    return r === undefined ? undefined : toNode(r);
  }

  async getNodeByHardwareSerial(serial: string): Promise<NodeRecord | undefined> {
    const r = await this.db.selectFrom('nodes').selectAll().where('hardware_serial', '=', serial).executeTakeFirst();
    return r === undefined ? undefined : toNode(r);
  }

  async listNodes(): Promise<NodeRecord[]> {
    const rows = await this.db.selectFrom('nodes').selectAll().orderBy('name').execute();
    const listed = new Map<string, ParsedColumns>();
    const nodes = rows.map((r) => {
      const parsed = parseColumns(r, this.listed.get(r.id));
      listed.set(r.id, parsed);
      return toNode(r, parsed);
    });
    this.listed = listed; // nodes gone since are dropped with the old map
    return nodes;
  }

  /**
   * Only the columns targeting reads: in a rollout over 7,500 nodes, copying every node's
   * facts out of the database each second was a third of the controller's pass and most of
   * its garbage (bench/controller-pass.ts).
   */
  async listNodeLabels(): Promise<NodeLabelsRecord[]> {
    const rows = await this.db
      .selectFrom('nodes')
      .select(['id', 'name', 'detected_labels', 'operator_labels', 'last_seen', 'cert_serial'])
      .orderBy('name')
      .execute();
    const labelled = new Map<string, ParsedLabels>();
    const nodes = rows.map((r): NodeLabelsRecord => {
      const parsed = parseLabelColumns(r, this.labelled.get(r.id));
      labelled.set(r.id, parsed);
      return {
        id: r.id,
        name: r.name,
        detectedLabels: parsed.detectedLabels,
        operatorLabels: parsed.operatorLabels,
        lastSeen: numOrNull(r.last_seen),
        certSerial: r.cert_serial,
      };
    });
    this.labelled = labelled;
    return nodes;
  }

  async listNodesById(ids: readonly string[]): Promise<NodeRecord[]> {
    const nodes: NodeRecord[] = [];
    // A few hundred ids a query stays under every engine's limit on bound parameters.
    for (let i = 0; i < ids.length; i += LIST_BY_ID_CHUNK) {
      const rows = await this.db
        .selectFrom('nodes')
        .selectAll()
        .where('id', 'in', ids.slice(i, i + LIST_BY_ID_CHUNK))
        .execute();
      for (const r of rows) nodes.push(toNode(r));
    }
    return nodes;
  }

  async recordHeartbeat(id: string, detectedLabels: Labels | undefined, facts: Record<string, unknown> | undefined, at: number): Promise<void> {
    const write = (db: Kysely<Database>) =>
      db
        .updateTable('nodes')
        .set({
          ...(detectedLabels === undefined ? {} : { detected_labels: JSON.stringify(detectedLabels) }),
          ...(facts === undefined ? {} : { facts: JSON.stringify(facts) }),
          last_seen: at,
        })
        .where('id', '=', id)
        .execute();
    // Most heartbeats carry neither labels nor facts (only changed ones are sent): written
    // with the others of the same moment, one commit for all (outside a caller's unit of work).
    if (detectedLabels === undefined && facts === undefined && !this.db.isTransaction) return this.lastSeenInGroup(id, at);
    if (detectedLabels === undefined) {
      await write(this.db);
      return;
    }
    await atomically(this.db, async (tx) => {
      await write(tx);
      await recordNodeChange(tx, id);
    });
  }

  async setOperatorLabels(id: string, labels: Labels): Promise<void> {
    await atomically(this.db, async (tx) => {
      await tx
        .updateTable('nodes')
        .set({ operator_labels: JSON.stringify(labels) })
        .where('id', '=', id)
        .execute();
      await recordNodeChange(tx, id);
    });
  }

  async decommissionNode(id: string, at: number): Promise<boolean> {
    return atomically(this.db, async (tx) => {
      await tx.deleteFrom('node_workloads').where('node_id', '=', id).execute();
      await tx.deleteFrom('node_telemetry').where('node_id', '=', id).execute();
      await tx.deleteFrom('node_alerts').where('node_id', '=', id).execute();
      await tx.deleteFrom('node_logs').where('node_id', '=', id).execute();
      await tx
        .updateTable('certificates')
        .set({ revoked_at: at, revoked_reason: 'decommissioned' })
        .where('node_id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
      const r = await tx.deleteFrom('nodes').where('id', '=', id).executeTakeFirst();
      const deleted = Number(r.numDeletedRows) > 0;
      if (deleted) await recordNodeChange(tx, id);
      return deleted;
    });
  }

  async recordCertificate(c: CertificateRecord): Promise<void> {
    await atomically(this.db, async (tx) => {
      await tx
        .insertInto('certificates')
        .values({
          serial: c.serial,
          node_id: c.nodeId,
          issued_at: c.issuedAt,
          not_after: c.notAfter,
          revoked_at: c.revokedAt,
          fingerprint: c.fingerprint,
          first_used_at: c.firstUsedAt ?? null,
          revoked_reason: c.revokedReason ?? null,
        })
        .execute();
      await tx.updateTable('nodes').set({ cert_serial: c.serial, cert_not_after: c.notAfter }).where('id', '=', c.nodeId).execute();
    });
  }

  async getCertificate(serial: string): Promise<CertificateRecord | undefined> {
    const r = await this.db.selectFrom('certificates').selectAll().where('serial', '=', serial).executeTakeFirst();
    return r === undefined ? undefined : toCertificate(r);
  }

  async listCertificates(nodeId: string): Promise<CertificateRecord[]> {
    const rows = await this.db.selectFrom('certificates').selectAll().where('node_id', '=', nodeId).orderBy('issued_at', 'desc').orderBy('serial').execute();
    return rows.map(toCertificate);
  }

  async getCertificateByFingerprint(fingerprint: string): Promise<CertificateRecord | undefined> {
    const [r] = await this.certificateByFingerprint(fingerprint);
    return r === undefined ? undefined : toCertificate(r);
  }

  async fillCertificateFingerprint(serial: string, fingerprint: string): Promise<boolean> {
    const r = await this.db.updateTable('certificates').set({ fingerprint }).where('serial', '=', serial).where('fingerprint', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async markCertificateUsed(serial: string, at: number): Promise<boolean> {
    const r = await this.db
      .updateTable('certificates')
      .set({ first_used_at: at })
      .where('serial', '=', serial)
      .where('first_used_at', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revokeCertificates(nodeId: string, at: number, reason: RevocationReason, which: { except?: string; only?: string } = {}): Promise<string[]> {
    let q = this.db.updateTable('certificates').set({ revoked_at: at, revoked_reason: reason }).where('node_id', '=', nodeId).where('revoked_at', 'is', null);
    if (which.except !== undefined) q = q.where('serial', '!=', which.except);
    if (which.only !== undefined) q = q.where('serial', '=', which.only);
    const rows = await q.returning('serial').execute();
    return rows.map((r) => r.serial);
  }

  async listNodeChanges(afterGeneration: number): Promise<NodeChange[]> {
    const rows = await this.db.selectFrom('node_changes').selectAll().where('generation', '>', afterGeneration).orderBy('generation').execute();
    return rows.map((r) => ({ generation: num(r.generation), nodeId: r.node_id }));
  }
}
