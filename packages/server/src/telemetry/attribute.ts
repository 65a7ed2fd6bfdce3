import type { TelemetrySeries } from '@edgefleet/protocol';

/** What the server knows of the node that uploaded (from its client certificate and records). */
export interface Uploader {
  name: string;
  site: string | null;
  /** Whether the node runs (or ran) `revision` of `deployment`, by the server's records. */
  runs(deployment: string, revision: number): boolean;
}

type Attribution = { ok: true; series: TelemetrySeries[]; rejected: Array<{ series: string; reason: string }> } | { ok: false; forged: string };

/**
 * Stamps `node` and `site` on a node's series and checks the labels that name a workload.
 * A series that claims another node or site is a forgery and fails the whole batch (403);
 * a series for a deployment or revision the server cannot attribute to this node (deleted
 * since, say, during a week offline) is dropped and reported, so one stale series never
 * blocks a queue of good data.
 */
export function attributeSeries(series: readonly TelemetrySeries[], node: Uploader): Attribution {
  const out: TelemetrySeries[] = [];
  const rejected: Array<{ series: string; reason: string }> = [];
  for (const s of series) {
    const id = describeSeries(s);
    if (s.labels.node !== undefined && s.labels.node !== node.name)
      return { ok: false, forged: `series ${id} claims node "${s.labels.node}", but the client certificate is node "${node.name}"` };
    if (s.labels.site !== undefined && s.labels.site !== (node.site ?? ''))
      return { ok: false, forged: `series ${id} claims site "${s.labels.site}", but node "${node.name}" is in site "${node.site ?? '(none)'}"` };
    const { deployment, revision } = s.labels;
    if (deployment !== undefined || revision !== undefined) {
      const rev = Number(revision);
      if (deployment === undefined || revision === undefined || !Number.isInteger(rev) || rev < 1) {
        rejected.push({ series: id, reason: 'a workload series needs both a deployment and a whole revision number' });
        continue;
      }
      if (!node.runs(deployment, rev)) {
        rejected.push({ series: id, reason: `the server has no record of this node running ${deployment} revision ${rev}` });
        continue;
      }
    }
    const labels: Record<string, string> = { ...s.labels, node: node.name };
    if (node.site !== null) labels.site = node.site;
    else delete labels.site;
    out.push({ ...s, labels } as TelemetrySeries);
  }
  return { ok: true, series: out, rejected };
}

/** `name{a="b",…}` for messages. */
export function describeSeries(s: { name: string; labels: Record<string, string> }): string {
  const labels = Object.entries(s.labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  return labels === '' ? s.name : `${s.name}{${labels}}`;
}
