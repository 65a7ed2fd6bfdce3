import {
  addToDense,
  denseCounts,
  denseQuantile,
  errors,
  type LatencyHistory,
  type LatencyHour,
  type LatencyRevisionSummary,
  parseDuration,
} from '@edgefleet/protocol';
import { deploymentInScope, FLEET_WIDE, type Scope } from '../../auth/scope.js';
import type { ServerContext } from '../../context.js';
import { deploymentNotFound } from '../../deployments/apply.js';
import type { LatencyHistoryRecord } from '../../store/index.js';
import { HISTORY_BUCKET_MS, hourOf } from './records.js';
import { HISTORY_RETENTION_MS } from './retention.js';

/** The query of `GET /v1/deployments/:name/latency`. */
export interface LatencyHistoryQuery {
  /** A duration ("7d"): the window ends now. */
  since: string;
  site?: string | undefined;
  revision?: number | undefined;
  bySite: 'true' | 'false';
}

/** Rows merged into one: sums, and quantiles of the merged histogram. */
class Merged {
  requests = 0;
  errors = 0;
  readonly dense = denseCounts();
  readonly hours = new Set<number>();
  readonly sites = new Set<string>();

  add(r: LatencyHistoryRecord): void {
    this.requests += r.requests;
    this.errors += r.errors;
    addToDense(this.dense, r.latency);
    this.hours.add(r.hour);
    this.sites.add(r.site);
  }

  quantiles(): Pick<LatencyHour, 'requests' | 'errors' | 'p50Ms' | 'p95Ms' | 'p99Ms'> {
    const q = (p: number): number => Math.round((denseQuantile(this.dense, p) ?? 0) * 1000) / 1000;
    return { requests: this.requests, errors: this.errors, p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99) };
  }
}

/** The window `since` asks for, in ms: more than nothing, at most the 30 days the server keeps. */
function windowOf(since: string): number {
  const ms = parseDuration(since, 'since');
  if (ms <= 0 || ms > HISTORY_RETENTION_MS)
    throw errors.badRequest(`since "${since}" is outside the history the server keeps`, 'give a duration from 1h to 30d, for example since=7d', {
      field: 'since',
    });
  return ms;
}

/**
 * A deployment's hourly latency history (see `LatencyHistorySchema`). A caller limited to
 * sites sees only deployments in its scope (others are 404) and only its sites' rows.
 */
export async function latencyHistoryOf(ctx: ServerContext, name: string, q: LatencyHistoryQuery, scope: Scope = FLEET_WIDE): Promise<LatencyHistory> {
  const d = await ctx.store.getDeployment(name);
  if (d === undefined || !deploymentInScope(scope, d)) throw deploymentNotFound(name);
  const now = ctx.clock();
  const from = hourOf(now - windowOf(q.since));
  const bySite = q.bySite === 'true';
  let rows = await ctx.store.listLatencyHistory(name, from, {
    ...(q.site === undefined ? {} : { site: q.site }),
    ...(q.revision === undefined ? {} : { revision: q.revision }),
  });
  const sites = scope.sites;
  if (sites !== null) rows = rows.filter((r) => sites.includes(r.site));
  const hours = new Map<string, { hour: number; revision: number; site: string | null; merged: Merged }>();
  const revisions = new Map<number, Merged>();
  for (const r of rows) {
    const site = bySite ? r.site : null;
    const key = `${r.hour}\u0000${r.revision}\u0000${site ?? ''}`;
    let h = hours.get(key);
    if (h === undefined) {
      h = { hour: r.hour, revision: r.revision, site, merged: new Merged() };
      hours.set(key, h);
    }
    h.merged.add(r);
    let rev = revisions.get(r.revision);
    if (rev === undefined) {
      rev = new Merged();
      revisions.set(r.revision, rev);
    }
    rev.add(r);
  }
  // Rows come oldest first, by revision and site: the map keeps that order.
  return {
    deployment: name,
    revision: d.revision,
    since: new Date(from).toISOString(),
    until: new Date(now).toISOString(),
    bucketSeconds: HISTORY_BUCKET_MS / 1000,
    site: q.site ?? null,
    bySite,
    hours: [...hours.values()].map((h) => ({ hour: new Date(h.hour).toISOString(), revision: h.revision, site: h.site, ...h.merged.quantiles() })),
    revisions: [...revisions.entries()]
      .sort(([a], [b]) => a - b)
      .map(([revision, m]): LatencyRevisionSummary => ({ revision, hours: m.hours.size, sites: [...m.sites].sort(), ...m.quantiles() })),
  };
}
