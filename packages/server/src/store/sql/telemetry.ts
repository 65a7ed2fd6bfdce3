import type { WorkloadStats, WorkloadStatus } from '@edgefleet/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import {
  type LatestSample,
  type LogAcceptance,
  type LogRecord,
  logLineBytes,
  type MetricsAcceptance,
  type MetricsBounds,
  type NodeAlertRecord,
  type NodeWorkloadRecord,
  seriesKey,
  type TelemetryRepository,
  type UploadCursor,
} from '../telemetry.js';
import { atomically } from './atomically.js';
import { num } from './columns.js';
import { type DirectReads, readByValue } from './direct-reads.js';

/** Identity of an alert of a node: its name and labels (one per workload for crash loops). */
function alertKey(a: { name: string; labels: Record<string, string> }): string {
  return seriesKey(a);
}

const DAY_MS = 86_400_000;

/** Node ids per `in (…)` list: well under SQLite's and PostgreSQL's bounds on parameters. */
const NODE_IDS_PER_QUERY = 500;

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

function toNodeWorkload(r: Database['node_workloads']): NodeWorkloadRecord {
  return { nodeId: r.node_id, status: JSON.parse(r.status) as WorkloadStatus, updatedAt: num(r.updated_at) };
}

/** {@link TelemetryRepository} over Kysely. */
export class SqlTelemetryRepository implements TelemetryRepository {
  /** A node's workload statuses, read by every status report: run directly when `reads` is given. */
  private readonly workloadsOfNode: (nodeId: string) => Promise<Database['node_workloads'][]>;

  constructor(
    private readonly db: Kysely<Database>,
    reads?: DirectReads,
  ) {
    this.workloadsOfNode = readByValue(reads, (nodeId) => db.selectFrom('node_workloads').selectAll().where('node_id', '=', nodeId).orderBy('deployment'));
  }

  async replaceNodeWorkloads(nodeId: string, statuses: WorkloadStatus[], at: number): Promise<void> {
    await atomically(this.db, async (tx) => {
      await tx.deleteFrom('node_workloads').where('node_id', '=', nodeId).execute();
      if (statuses.length > 0) {
        await tx
          .insertInto('node_workloads')
          .values(statuses.map((s) => ({ node_id: nodeId, deployment: s.deployment, status: JSON.stringify(s), updated_at: at })))
          .execute();
      }
    });
  }

  async listNodeWorkloads(filter: { deployment?: string; nodeId?: string }): Promise<NodeWorkloadRecord[]> {
    if (filter.deployment === undefined && filter.nodeId !== undefined) return (await this.workloadsOfNode(filter.nodeId)).map(toNodeWorkload);
    let q = this.db.selectFrom('node_workloads').selectAll();
    if (filter.deployment !== undefined) q = q.where('deployment', '=', filter.deployment);
    if (filter.nodeId !== undefined) q = q.where('node_id', '=', filter.nodeId);
    const rows = await q.orderBy('node_id').orderBy('deployment').execute();
    return rows.map(toNodeWorkload);
  }

  async insertWorkloadStats(nodeId: string, stats: WorkloadStats[]): Promise<void> {
    if (stats.length === 0) return;
    await this.db
      .insertInto('workload_stats')
      .values(
        stats.map((s) => ({
          node_id: nodeId,
          deployment: s.deployment,
          revision: s.revision,
          interval_start: s.intervalStart,
          interval_end: s.intervalEnd,
          requests: s.requests,
          errors: s.errors,
          restarts: s.restarts,
          fallback: s.fallback ? 1 : 0,
          latency: JSON.stringify(s.latency),
          instance_started_at: s.instanceStartedAt ?? null,
          instance_requests_before: s.instanceRequestsBefore ?? null,
        })),
      )
      .execute();
  }

  async listWorkloadStats(deployment: string, from: number, nodeIds?: readonly string[]): Promise<Array<WorkloadStats & { nodeId: string }>> {
    const query = this.db.selectFrom('workload_stats').selectAll().where('deployment', '=', deployment).where('interval_end', '>', from);
    const rows =
      nodeIds === undefined
        ? await query.execute()
        : // In chunks: both engines bound the parameters of one statement.
          (await Promise.all(chunks(nodeIds, NODE_IDS_PER_QUERY).map((ids) => query.where('node_id', 'in', ids).execute()))).flat();
    return rows.map((r) => ({
      nodeId: r.node_id,
      deployment: r.deployment,
      revision: num(r.revision),
      intervalStart: num(r.interval_start),
      intervalEnd: num(r.interval_end),
      requests: num(r.requests),
      errors: num(r.errors),
      restarts: num(r.restarts),
      fallback: num(r.fallback) === 1,
      latency: JSON.parse(r.latency) as WorkloadStats['latency'],
      // Absent, not undefined, when unknown: samples of older agents look as they were sent.
      ...(r.instance_started_at === null ? {} : { instanceStartedAt: num(r.instance_started_at) }),
      ...(r.instance_requests_before === null ? {} : { instanceRequestsBefore: num(r.instance_requests_before) }),
    }));
  }

  async pruneWorkloadStats(before: number): Promise<number> {
    const r = await this.db.deleteFrom('workload_stats').where('interval_end', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async acceptMetrics(
    nodeId: string,
    cursor: UploadCursor,
    at: number,
    latest: LatestSample[],
    alerts: NodeAlertRecord[],
    bounds?: MetricsBounds,
  ): Promise<MetricsAcceptance> {
    return atomically(this.db, async (tx) => {
      const refusedSeries = new Set<string>();
      let refusedAlerts = 0;
      const row = await tx.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row !== undefined && row.metrics_stream === cursor.stream && row.metrics_seq !== null && num(row.metrics_seq) >= cursor.seq)
        return { accepted: false, refusedSeries, refusedAlerts };
      const merged = new Map<string, LatestSample>();
      for (const s of row === undefined ? [] : (JSON.parse(row.latest) as LatestSample[])) {
        if (bounds === undefined || s.t >= at - bounds.staleMs) merged.set(seriesKey(s), s);
      }
      for (const s of latest) {
        const key = seriesKey(s);
        const old = merged.get(key);
        if (old === undefined && bounds !== undefined && merged.size >= bounds.series) {
          refusedSeries.add(key);
          continue;
        }
        if (old === undefined || old.t <= s.t) merged.set(key, s);
      }
      const values = { metrics_stream: cursor.stream, metrics_seq: cursor.seq, last_upload_at: at, latest: JSON.stringify([...merged.values()]) };
      if (row === undefined)
        await tx
          .insertInto('node_telemetry')
          .values({ node_id: nodeId, ...values })
          .execute();
      else await tx.updateTable('node_telemetry').set(values).where('node_id', '=', nodeId).execute();
      const kept =
        bounds === undefined || alerts.length === 0
          ? undefined
          : await tx.selectFrom('node_alerts').select(['alert_key', 'state', 'reported_at']).where('node_id', '=', nodeId).execute();
      const keys = new Set(kept?.map((k) => k.alert_key));
      // Oldest resolved first: they are history, and give way to new alerts at the bound.
      const resolved = (kept ?? []).filter((k) => k.state === 'resolved').sort((x, y) => num(x.reported_at) - num(y.reported_at));
      for (const a of alerts) {
        const key = alertKey(a);
        if (bounds !== undefined && !keys.has(key) && keys.size >= bounds.alerts) {
          const oldest = resolved.shift();
          if (oldest === undefined) {
            refusedAlerts++;
            continue;
          }
          await tx.deleteFrom('node_alerts').where('node_id', '=', nodeId).where('alert_key', '=', oldest.alert_key).execute();
          keys.delete(oldest.alert_key);
        }
        keys.add(key);
        const record = {
          name: a.name,
          state: a.state,
          severity: a.severity,
          since: a.since,
          message: a.message,
          labels: JSON.stringify(a.labels),
          reported_at: a.reportedAt,
        };
        await tx
          .insertInto('node_alerts')
          .values({ node_id: nodeId, alert_key: key, ...record })
          .onConflict((oc) => oc.columns(['node_id', 'alert_key']).doUpdateSet(record))
          .execute();
        // Keep the list of replaceable (resolved) alerts current within the batch too.
        const at = resolved.findIndex((r) => r.alert_key === key);
        if (at >= 0) resolved.splice(at, 1);
        if (a.state === 'resolved') resolved.push({ alert_key: key, state: 'resolved', reported_at: a.reportedAt });
      }
      return { accepted: true, refusedSeries, refusedAlerts };
    });
  }

  async acceptLogs(
    nodeId: string,
    cursor: UploadCursor,
    at: number,
    lines: Omit<LogRecord, 'id' | 'nodeId'>[],
    budgetBytesPerDay?: number,
  ): Promise<LogAcceptance> {
    return atomically(this.db, async (tx) => {
      const row = await tx.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row !== undefined && row.logs_stream === cursor.stream && row.logs_seq !== null && num(row.logs_seq) >= cursor.seq) return { kind: 'replay' };
      const day = Math.floor(at / DAY_MS);
      const usedToday = row !== undefined && row.log_day === day && row.log_day_bytes !== null ? num(row.log_day_bytes) : 0;
      const batchBytes = lines.reduce((n, l) => n + logLineBytes(l.line), 0);
      if (budgetBytesPerDay !== undefined && usedToday + batchBytes > budgetBytesPerDay) return { kind: 'over-budget', usedBytes: usedToday, batchBytes };
      const values = { logs_stream: cursor.stream, logs_seq: cursor.seq, log_day: day, log_day_bytes: usedToday + batchBytes };
      if (row === undefined)
        await tx
          .insertInto('node_telemetry')
          .values({ node_id: nodeId, ...values, latest: '[]' })
          .execute();
      else await tx.updateTable('node_telemetry').set(values).where('node_id', '=', nodeId).execute();
      // Chunked: PostgreSQL allows 65,535 parameters per statement.
      for (let i = 0; i < lines.length; i += 500) {
        await tx
          .insertInto('node_logs')
          .values(
            lines.slice(i, i + 500).map((l) => ({
              node_id: nodeId,
              ts_ns: l.tsNs,
              at: l.at,
              received_at: at,
              source: l.source,
              revision: l.revision,
              stream: l.stream,
              level: l.level,
              line: l.line,
            })),
          )
          .execute();
      }
      return { kind: 'stored', usedBytes: usedToday + batchBytes };
    });
  }

  async getNodeTelemetry(nodeId: string): Promise<{ lastUploadAt: number | null; latest: LatestSample[] } | undefined> {
    const row = await this.db.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
    if (row === undefined) return undefined;
    return { lastUploadAt: row.last_upload_at === null ? null : num(row.last_upload_at), latest: JSON.parse(row.latest) as LatestSample[] };
  }

  async listNodeTelemetry(): Promise<Array<{ nodeId: string; lastUploadAt: number | null; latest: LatestSample[] }>> {
    const rows = await this.db.selectFrom('node_telemetry').selectAll().execute();
    return rows.map((row) => ({
      nodeId: row.node_id,
      lastUploadAt: row.last_upload_at === null ? null : num(row.last_upload_at),
      latest: JSON.parse(row.latest) as LatestSample[],
    }));
  }

  async listAlerts(filter: { nodeId?: string; state?: 'firing' | 'resolved' }): Promise<NodeAlertRecord[]> {
    let q = this.db.selectFrom('node_alerts').selectAll();
    if (filter.nodeId !== undefined) q = q.where('node_id', '=', filter.nodeId);
    if (filter.state !== undefined) q = q.where('state', '=', filter.state);
    const rows = await q.orderBy('since', 'desc').execute();
    return rows.map((r) => ({
      nodeId: r.node_id,
      name: r.name,
      state: r.state as NodeAlertRecord['state'],
      severity: r.severity as NodeAlertRecord['severity'],
      since: num(r.since),
      message: r.message,
      labels: JSON.parse(r.labels) as Record<string, string>,
      reportedAt: num(r.reported_at),
    }));
  }

  async listLogs(filter: { nodeId: string; source?: string; since?: number; afterId?: number; limit: number }): Promise<LogRecord[]> {
    let q = this.db.selectFrom('node_logs').selectAll().where('node_id', '=', filter.nodeId);
    if (filter.source !== undefined) q = q.where('source', '=', filter.source);
    if (filter.since !== undefined) q = q.where('at', '>=', filter.since);
    if (filter.afterId !== undefined) q = q.where('id', '>', filter.afterId);
    const rows = await q.orderBy('id').limit(filter.limit).execute();
    return rows.map((r) => ({
      id: num(r.id),
      nodeId: r.node_id,
      tsNs: r.ts_ns,
      at: num(r.at),
      source: r.source,
      revision: r.revision === null ? null : num(r.revision),
      stream: r.stream,
      level: r.level,
      line: r.line,
    }));
  }

  async pruneTelemetry(before: number): Promise<number> {
    const logs = await this.db.deleteFrom('node_logs').where('received_at', '<', before).executeTakeFirst();
    const alerts = await this.db.deleteFrom('node_alerts').where('state', '=', 'resolved').where('reported_at', '<', before).executeTakeFirst();
    return Number(logs.numDeletedRows) + Number(alerts.numDeletedRows);
  }
}
