/**
 * A rollout, live: the current step among the strategy's steps, where every targeted node
 * stands, the latest gate evaluation per gate, each latency ratio gate's estimate with its
 * interval against the threshold over time (the canaries' P95 against the baseline's for
 * evaluations without per-gate verdicts), and the rollout's event log. Operators get pause, resume, promote,
 * abort and undo, each behind a confirmation; the server checks the role again.
 */
import { useMemo, useState } from 'react';
import { GateBadge, PhaseBadge } from '../components/badges.js';
import { ConfirmButton } from '../components/confirm-button.js';
import { MeasuredTable, VerdictLines, VerdictTable, warmupText } from '../components/gate-verdicts.js';
import { Link } from '../components/link.js';
import { Section } from '../components/section.js';
import { TimeChart } from '../components/time-chart.js';
import { dateTime, ms } from '../format.js';
import { gateValue, ratioGateCharts } from '../gate-chart.js';
import { canOperate, useFleet, useTitle } from '../hooks.js';
import type { GatePoint } from '../reducers.js';
import type { DeploymentView, RolloutCommand, RolloutStatus } from '../types.js';

/** Node buckets in the order they are drawn, with their colours. */
const BUCKETS = [
  { key: 'updated', label: 'updated', className: 'seg-ok' },
  { key: 'pending', label: 'pending', className: 'seg-info' },
  { key: 'deferred', label: 'deferred (offline)', className: 'seg-muted' },
  { key: 'failed', label: 'failed', className: 'seg-bad' },
  { key: 'rolledBack', label: 'rolled back', className: 'seg-warn' },
] as const;

const ACTIVE: ReadonlySet<string> = new Set(['Progressing', 'Holding', 'Paused']);

/** Which commands make sense in a phase (the server ignores the others, with an event saying so). */
export function availableCommands(r: Pick<RolloutStatus, 'phase' | 'fromRevision'>): Record<RolloutCommand, boolean> {
  const active = ACTIVE.has(r.phase);
  return {
    pause: active && r.phase !== 'Paused',
    resume: r.phase === 'Paused',
    promote: active,
    abort: active,
    undo: r.fromRevision !== null && r.phase !== 'Aborted' && r.phase !== 'RolledBack',
  };
}

/** The chart's columns from the gate points of one revision. */
export function gateChartData(points: readonly GatePoint[]): { times: number[]; values: Array<Array<number | null>> } {
  return {
    times: points.map((p) => p.t),
    values: [points.map((p) => p.p95LatencyMs), points.map((p) => p.baselineP95LatencyMs), points.map((p) => p.p95LimitMs ?? p.maxP95LatencyMs)],
  };
}

function stepsOf(spec: DeploymentView['spec'] | undefined): Array<{ percent: number; bake: string }> {
  return (spec?.rollout?.steps ?? []).map((s) => ({ percent: s.percent, bake: s.bake }));
}

export function RolloutPage(props: { name: string }) {
  useTitle(`Rollout of ${props.name}`);
  const { state, api, role } = useFleet();
  const r = state.rollouts.get(props.name);
  const d = state.deployments.get(props.name);
  const [sent, setSent] = useState<string | undefined>(undefined);
  const history = state.gateHistory.get(props.name);
  const points = useMemo(() => (history ?? []).filter((p) => p.revision === r?.revision), [history, r?.revision]);
  const chart = useMemo(() => gateChartData(points), [points]);
  const ratioCharts = useMemo(() => ratioGateCharts(points), [points]);
  const events = useMemo(
    () =>
      state.events
        .filter((e) => e.deployment === props.name)
        .slice(-200)
        .reverse(),
    [state.events, props.name],
  );

  if (r === undefined) {
    return (
      <>
        <h1>Rollout of {props.name}</h1>
        <p className="muted">
          {!state.loaded
            ? 'Loading…'
            : d === undefined
              ? `No deployment "${props.name}".`
              : d.spec.rollout === undefined
                ? 'This deployment has no rollout strategy: a new revision goes to every selected node at once. Add spec.rollout to roll out in stages.'
                : 'The rollout has not started yet; the controller starts it within a second of apply.'}
        </p>
      </>
    );
  }
  const commands = availableCommands(r);
  const steps = stepsOf(d?.spec);
  const gate = r.gate;
  const gateCondition = r.conditions.find((c) => c.type === 'GatesPassing');
  const send = async (command: RolloutCommand, opts: { full?: boolean; now?: boolean } = {}) => {
    await api.rolloutCommand(r.deployment, command, opts);
    setSent(`${command[0]?.toUpperCase()}${command.slice(1)} sent; the controller applies it on its next pass.`);
  };
  const confirmations: Array<{ command: RolloutCommand; label: string; consequence: string; danger?: boolean }> = [
    { command: 'pause', label: 'Pause', consequence: 'No more nodes move to the new revision until you resume. Nodes already updated stay updated.' },
    { command: 'resume', label: 'Resume', consequence: 'The rollout carries on from the step it was paused at.' },
    { command: 'promote', label: 'Promote', consequence: "The current step's bake time and gates are skipped; the next step starts now." },
    {
      command: 'abort',
      label: 'Abort',
      consequence: 'Every node that got the new revision goes back to the previous one, and the rollout stops.',
      danger: true,
    },
    {
      command: 'undo',
      label: 'Undo',
      consequence: 'The deployment moves back to the previous revision, through the same steps and gates.',
      danger: true,
    },
  ];

  return (
    <>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to={{ page: 'deployments' }}>Deployments</Link> / <Link to={{ page: 'deployment', name: r.deployment }}>{r.deployment}</Link> /{' '}
        <span aria-current="page">rollout</span>
      </nav>
      <h1>
        Rollout of {r.deployment} <PhaseBadge phase={r.phase} />
      </h1>
      <p className="muted" data-testid="rollout-summary">
        Revision {r.revision}
        {r.fromRevision === null ? '' : ` from ${r.fromRevision}`} · step {r.step} of {r.steps} ·{' '}
        {r.conditions.find((c) => c.type === 'Progressing')?.message ?? ''}
      </p>

      {canOperate(role) ? (
        <section className="actions-bar" aria-label="Rollout commands">
          {confirmations.map((c) => (
            <ConfirmButton
              key={c.command}
              label={c.label}
              question={`${c.label} the rollout of ${r.deployment}?`}
              consequence={c.consequence}
              confirmLabel={`${c.label} rollout`}
              danger={c.danger ?? false}
              disabled={!commands[c.command]}
              onConfirm={() => send(c.command)}
            />
          ))}
          {sent === undefined ? null : <output className="muted small">{sent}</output>}
        </section>
      ) : (
        <p className="muted small">Your token has the viewer role: commands need an operator token.</p>
      )}

      {steps.length > 0 ? (
        <ol className="steps" aria-label="Steps">
          {steps.map((s, i) => {
            const n = i + 1;
            const status = n < r.step || r.phase === 'Succeeded' ? 'done' : n === r.step ? 'current' : 'todo';
            return (
              <li key={n} className={`step step-${status}`} aria-current={status === 'current' ? 'step' : undefined}>
                <span className="step-n">Step {n}</span>
                <span className="step-p">{s.percent} %</span>
                <span className="step-b">bake {s.bake}</span>
              </li>
            );
          })}
        </ol>
      ) : null}

      <Section className="card" title={<>Nodes ({r.nodes.total})</>}>
        <div className="stack-bar" aria-hidden="true">
          {BUCKETS.map((b) => (
            <span key={b.key} className={b.className} style={{ flexGrow: r.nodes[b.key] }} />
          ))}
        </div>
        <ul className="legend" data-testid="rollout-counts">
          {BUCKETS.map((b) => (
            <li key={b.key}>
              <span className={`swatch ${b.className}`} aria-hidden="true" /> {r.nodes[b.key]} {b.label}
            </li>
          ))}
        </ul>
      </Section>

      <Section className="card" title={<>Gates {gate === null ? null : <GateBadge result={gate.result} />}</>}>
        {gate === null ? (
          <p className="muted">No gate evaluated yet.</p>
        ) : (
          <>
            <p>
              {gateCondition?.message} <span className="muted small">({dateTime(gate.evaluatedAt)})</span>
            </p>
            {gate.gates.length > 0 ? <VerdictTable gates={gate.gates} failureThreshold={gate.thresholds.failureThreshold} /> : <MeasuredTable gate={gate} />}
            {(gate.measured.warmupRequests ?? 0) > 0 ? (
              <p className="muted small" data-testid="gate-warmup">
                {warmupText(gate.measured.warmupRequests ?? 0, gate.measured.warmingNodes ?? 0)}
              </p>
            ) : null}
          </>
        )}
        {ratioCharts.length > 0 ? (
          ratioCharts.map((c) => (
            <TimeChart
              key={c.gate}
              title={`${c.label} of revision ${r.revision} to the baseline, with its interval`}
              series={[
                { label: c.label, color: '#1a5fb4', points: true },
                { label: 'interval low', color: '#1a5fb4', width: 1 },
                { label: 'interval high', color: '#1a5fb4', width: 1 },
                { label: 'threshold', color: '#b3261e', dash: [6, 4] },
              ]}
              bands={[{ upper: 2, lower: 1, fill: 'rgba(26, 95, 180, 0.15)' }]}
              times={c.times}
              values={c.values}
              format={(v) => gateValue(v, 'ratio')}
              height={180}
            />
          ))
        ) : (
          <TimeChart
            title={`P95 latency of revision ${r.revision} against the baseline`}
            series={[
              { label: `r${r.revision} P95`, color: '#1a5fb4', points: true },
              { label: 'baseline P95', color: '#26734d', points: true },
              { label: 'limit', color: '#b3261e', dash: [6, 4] },
            ]}
            times={chart.times}
            values={chart.values}
            format={(v) => ms(v)}
            emptyText="No gate evaluation with data for this revision yet."
          />
        )}
        <p className="muted small">
          Each point is one gate evaluation, from the event log and the live status this page receives
          {ratioCharts.length > 0
            ? '; the shaded band is its interval at the gate’s confidence: a gate passes when the band is below the threshold, fails when it is above (latency also by more than the noise floor), and otherwise keeps collecting.'
            : '.'}
        </p>
        {gate !== null && gate.gates.length > 0 ? <VerdictLines gates={gate.gates} failureThreshold={gate.thresholds.failureThreshold} /> : null}
      </Section>

      <Section className="card" title="Event log">
        {events.length === 0 ? <p className="muted">No events yet.</p> : null}
        <div className="table-scroll">
          <table className="list compact" data-testid="rollout-events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">#</th>
                <th scope="col">Event</th>
                <th scope="col">Rev.</th>
                <th scope="col">Step</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.seq}>
                  <td className="nowrap">{dateTime(e.time)}</td>
                  <td>{e.seq}</td>
                  <td className="nowrap">{e.type}</td>
                  <td>r{e.revision}</td>
                  <td>{e.step}</td>
                  <td>
                    {e.message}
                    {(e.gate?.gates?.length ?? 0) > 0 ? (
                      <ul className="plain small muted" aria-label="Per gate">
                        {e.gate?.gates?.map((v) => (
                          <li key={v.gate}>{v.message}</li>
                        ))}
                      </ul>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
    </>
  );
}
