/**
 * A deployment's latency history: hourly P50/P95/P99 over the last day, week or month
 * (`GET /v1/deployments/:name/latency`), drawn like the rollout page's gate chart, and each
 * revision over the window in a table (requests, quantiles, error rate).
 */
import type { LatencyHistory } from '@edgefleet/protocol';
import { useState } from 'react';
import { ms, percent } from '../format.js';
import { useAsync, useFleet } from '../hooks.js';
import { ProblemNote } from './problem.js';
import { Section } from './section.js';
import { TimeChart } from './time-chart.js';

/** The windows offered, as the API's `since`. */
export const LATENCY_WINDOWS = ['24h', '7d', '30d'] as const;
type LatencyWindow = (typeof LATENCY_WINDOWS)[number];

/**
 * The chart's data: per hour, the quantiles of the revision that answered most of that
 * hour's requests (what most users got), so the line goes on across a rollout.
 */
export function latencyChartData(history: LatencyHistory): { times: number[]; values: [Array<number | null>, Array<number | null>, Array<number | null>] } {
  const byHour = new Map<number, LatencyHistory['hours'][number]>();
  for (const h of history.hours) {
    const at = Date.parse(h.hour);
    const best = byHour.get(at);
    if (best === undefined || h.requests > best.requests) byHour.set(at, h);
  }
  const hours = [...byHour.entries()].sort(([a], [b]) => a - b);
  return {
    times: hours.map(([at]) => at),
    values: [hours.map(([, h]) => h.p50Ms), hours.map(([, h]) => h.p95Ms), hours.map(([, h]) => h.p99Ms)],
  };
}

export function LatencyHistoryPanel(props: { name: string; revision: number }) {
  const { api } = useFleet();
  const [since, setSince] = useState<LatencyWindow>('7d');
  // Hourly buckets: a new revision, or another window, is worth asking again; nothing else is.
  const history = useAsync(
    (signal) => api.client.request('deploymentLatency', { params: { name: props.name }, query: { since, bySite: 'false' } }, { signal }),
    [api, props.name, props.revision, since],
  );
  const chart = history.data === undefined ? { times: [], values: [[], [], []] } : latencyChartData(history.data);
  return (
    <Section className="card" title="Latency history">
      <p className="small">
        {LATENCY_WINDOWS.map((w) => (
          <label key={w} className="muted">
            <input type="radio" name={`latency-window-${props.name}`} checked={since === w} onChange={() => setSince(w)} /> last {w}{' '}
          </label>
        ))}
      </p>
      <ProblemNote error={history.error} title="Cannot read the latency history" />
      <TimeChart
        title={`Hourly latency of ${props.name}, last ${since}`}
        series={[
          { label: 'P50', color: '#26734d' },
          { label: 'P95', color: '#1a5fb4' },
          { label: 'P99', color: '#b3261e' },
        ]}
        times={chart.times}
        values={chart.values}
        format={(v) => ms(v)}
        emptyText={history.loading ? 'Loading…' : 'No latency history yet: nodes report it once they serve requests.'}
      />
      {history.data !== undefined && history.data.revisions.length > 0 ? (
        <div className="table-scroll">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Revision</th>
                <th scope="col">Hours</th>
                <th scope="col">Requests</th>
                <th scope="col">P50</th>
                <th scope="col">P95</th>
                <th scope="col">P99</th>
                <th scope="col">Errors</th>
              </tr>
            </thead>
            <tbody>
              {history.data.revisions.map((r) => (
                <tr key={r.revision} aria-current={r.revision === props.revision ? 'true' : undefined}>
                  <th scope="row">
                    r{r.revision}
                    {r.revision === props.revision ? <span className="muted small"> (current)</span> : null}
                  </th>
                  <td>{r.hours}</td>
                  <td>{r.requests.toLocaleString('en')}</td>
                  <td>{ms(r.p50Ms)}</td>
                  <td>{ms(r.p95Ms)}</td>
                  <td>{ms(r.p99Ms)}</td>
                  <td>{percent(r.requests === 0 ? null : r.errors / r.requests, 2)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <p className="muted small">
        Each point is one hour, from every node's histograms merged (the revision that answered most requests that hour). The server keeps 30 days; "edgefleet
        slo suggest {props.name}" proposes rollout gates from it.
      </p>
    </Section>
  );
}
