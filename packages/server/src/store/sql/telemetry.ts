import type { WorkloadStats, WorkloadStatus } from '@edgefleet/protocol';
import type { Kysely } from 'kysely';
import type { Database } from '../schema.js';
import type { LatestSample, LogRecord, NodeAlertRecord, NodeWorkloadRecord, TelemetryRepository, UploadCursor } from '../telemetry.js';
import { atomically } from './atomically.js';
import { num } from './columns.js';

/** Identity of a series among a node's latest values. */
function sampleKey(s: { name: string; labels: Record<string, string> }): string {
  return `${s.name}${JSON.stringify(Object.entries(s.labels).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
}

/** Identity of an alert of a node: its name and labels (one per workload for crash loops). */
function alertKey(a: { name: string; labels: Record<string, string> }): string {
  return sampleKey(a);
}

/** {@link TelemetryRepository} over Kysely. */
export class SqlTelemetryRepository implements TelemetryRepository {
  constructor(private readonly db: Kysely<Database>) {}

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
    let q = this.db.selectFrom('node_workloads').selectAll();
    if (filter.deployment !== undefined) q = q.where('deployment', '=', filter.deployment);
    if (filter.nodeId !== undefined) q = q.where('node_id', '=', filter.nodeId);
    const rows = await q.orderBy('node_id').orderBy('deployment').execute();
    return rows.map((r) => ({ nodeId: r.node_id, status: JSON.parse(r.status) as WorkloadStatus, updatedAt: num(r.updated_at) }));
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
        })),
      )
      .execute();
  }

  async listWorkloadStats(deployment: string, from: number): Promise<Array<WorkloadStats & { nodeId: string }>> {
    const rows = await this.db.selectFrom('workload_stats').selectAll().where('deployment', '=', deployment).where('interval_end', '>', from).execute();
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
    }));
  }

  async pruneWorkloadStats(before: number): Promise<number> {
    const r = await this.db.deleteFrom('workload_stats').where('interval_end', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async acceptMetrics(nodeId: string, cursor: UploadCursor, at: number, latest: LatestSample[], alerts: NodeAlertRecord[]): Promise<boolean> {
    return atomically(this.db, async (tx) => {
      const row = await tx.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row !== undefined && row.metrics_stream === cursor.stream && row.metrics_seq !== null && num(row.metrics_seq) >= cursor.seq) return false;
      const merged = new Map<string, LatestSample>();
      for (const s of row === undefined ? [] : (JSON.parse(row.latest) as LatestSample[])) merged.set(sampleKey(s), s);
      for (const s of latest) {
        const old = merged.get(sampleKey(s));
        if (old === undefined || old.t <= s.t) merged.set(sampleKey(s), s);
      }
      const values = { metrics_stream: cursor.stream, metrics_seq: cursor.seq, last_upload_at: at, latest: JSON.stringify([...merged.values()]) };
      if (row === undefined)
        await tx
          .insertInto('node_telemetry')
          .values({ node_id: nodeId, ...values })
          .execute();
      else await tx.updateTable('node_telemetry').set(values).where('node_id', '=', nodeId).execute();
      for (const a of alerts) {
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
          .values({ node_id: nodeId, alert_key: alertKey(a), ...record })
          .onConflict((oc) => oc.columns(['node_id', 'alert_key']).doUpdateSet(record))
          .execute();
      }
      return true;
    });
  }

  async acceptLogs(nodeId: string, cursor: UploadCursor, at: number, lines: Omit<LogRecord, 'id' | 'nodeId'>[]): Promise<boolean> {
    return atomically(this.db, async (tx) => {
      const row = await tx.selectFrom('node_telemetry').selectAll().where('node_id', '=', nodeId).executeTakeFirst();
      if (row !== undefined && row.logs_stream === cursor.stream && row.logs_seq !== null && num(row.logs_seq) >= cursor.seq) return false;
      if (row === undefined)
        await tx.insertInto('node_telemetry').values({ node_id: nodeId, logs_stream: cursor.stream, logs_seq: cursor.seq, latest: '[]' }).execute();
      else await tx.updateTable('node_telemetry').set({ logs_stream: cursor.stream, logs_seq: cursor.seq }).where('node_id', '=', nodeId).execute();
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
      return true;
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
