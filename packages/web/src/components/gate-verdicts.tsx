/**
 * A gate evaluation in words and numbers: per gate, the sample sizes on both sides, the
 * estimate with its interval, the threshold and the verdict (a badge with a word, never
 * colour alone); the measured values for evaluations recorded before per-gate verdicts.
 */
import { ms, percent } from '../format.js';
import { estimateText, GATE_INFO, gateValue, sideText, verdictTone, verdictWord } from '../gate-chart.js';
import type { GateVerdict, RolloutStatus } from '../types.js';
import { Badge } from './badges.js';

/** "150 requests of the new revision left out as warm-up (1 node still warming up)." */
export function warmupText(requests: number, warmingNodes: number): string {
  const nodes = warmingNodes === 0 ? '' : ` (${warmingNodes} ${warmingNodes === 1 ? 'node' : 'nodes'} still warming up)`;
  return `${requests.toLocaleString('en')} ${requests === 1 ? 'request' : 'requests'} of the new revision left out as warm-up${nodes}: a new instance's first requests and seconds are not compared.`;
}

/** The latest evaluation per gate: sample sizes, the estimate with its interval, the threshold, the verdict. */
export function VerdictTable(props: { gates: readonly GateVerdict[]; failureThreshold: number | undefined }) {
  return (
    <div className="table-scroll">
      <table className="list compact" data-testid="gate-table">
        <thead>
          <tr>
            <th scope="col">Gate</th>
            <th scope="col">New revision</th>
            <th scope="col">Baseline</th>
            <th scope="col">Estimate (interval)</th>
            <th scope="col">Threshold</th>
            <th scope="col">Verdict</th>
          </tr>
        </thead>
        <tbody>
          {props.gates.map((v) => {
            const info = GATE_INFO[v.gate];
            return (
              <tr key={v.gate}>
                <th scope="row">{info.label}</th>
                <td>
                  {gateValue(v.canary.value, info.side)}
                  <br />
                  <span className="muted small">{sideText(v.canary)}</span>
                </td>
                <td>
                  {v.baseline === null ? (
                    '—'
                  ) : (
                    <>
                      {gateValue(v.baseline.value, info.side)}
                      <br />
                      <span className="muted small">{sideText(v.baseline)}</span>
                    </>
                  )}
                </td>
                <td>{estimateText(v)}</td>
                <td>{`≤ ${gateValue(v.threshold, info.unit)}`}</td>
                <td>
                  <Badge tone={verdictTone(v.verdict)}>{verdictWord(v, props.failureThreshold)}</Badge>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

/** The measured values of an evaluation recorded without per-gate verdicts. */
export function MeasuredTable({ gate }: { gate: NonNullable<RolloutStatus['gate']> }) {
  return (
    <table className="list compact">
      <thead>
        <tr>
          <th scope="col">Measure</th>
          <th scope="col">New revision</th>
          <th scope="col">Baseline</th>
          <th scope="col">Threshold</th>
        </tr>
      </thead>
      <tbody>
        <tr>
          <th scope="row">P95 latency</th>
          <td>{ms(gate.measured.p95LatencyMs)}</td>
          <td>{ms(gate.measured.baselineP95LatencyMs)}</td>
          <td>
            {gate.thresholds.p95LatencyRatio === null ? '' : `≤ ${gate.thresholds.p95LatencyRatio}× baseline`}
            {gate.thresholds.maxP95LatencyMs === null ? '' : ` ≤ ${ms(gate.thresholds.maxP95LatencyMs)}`}
            {gate.thresholds.p95LatencyRatio === null && gate.thresholds.maxP95LatencyMs === null ? '—' : ''}
          </td>
        </tr>
        <tr>
          <th scope="row">Error rate</th>
          <td>{percent(gate.measured.errorRate, 2)}</td>
          <td>—</td>
          <td>≤ {percent(gate.thresholds.maxErrorRate, 2)}</td>
        </tr>
        <tr>
          <th scope="row">Requests</th>
          <td>
            {gate.measured.canaryRequests.toLocaleString('en')} on {gate.measured.canaryNodes} nodes
          </td>
          <td>
            {gate.measured.baselineRequests.toLocaleString('en')} on {gate.measured.baselineNodes} nodes
          </td>
          <td>≥ {gate.thresholds.minRequests} each</td>
        </tr>
        <tr>
          <th scope="row">Restarts (worst node)</th>
          <td>{gate.measured.maxRestarts}</td>
          <td>—</td>
          <td>≤ {gate.thresholds.maxRestarts}</td>
        </tr>
      </tbody>
    </table>
  );
}

/** Each gate's latest verdict in plain words, as the server wrote it. */
export function VerdictLines(props: { gates: readonly GateVerdict[]; failureThreshold: number | undefined }) {
  return (
    <ul className="verdicts" aria-label="Latest verdicts" data-testid="gate-verdicts">
      {props.gates.map((v) => (
        <li key={v.gate}>
          <Badge tone={verdictTone(v.verdict)}>{verdictWord(v, props.failureThreshold)}</Badge> {v.message}
        </li>
      ))}
    </ul>
  );
}
