/**
 * What happened: every rollout decision (the controller's event journal) and the audit log
 * of what operators and nodes did (enrollments, labels, tokens, applies, commands).
 */
import { useId, useMemo, useState } from 'react';
import { Link } from '../components/link.js';
import { Section } from '../components/section.js';
import { type Column, VirtualTable } from '../components/virtual-table.js';
import { dateTime, details, shortDigest } from '../format.js';
import { useFleet, useTitle } from '../hooks.js';
import { navigate, routePath } from '../router.js';
import type { RolloutEvent } from '../types.js';

const EVENT_COLUMNS: Column<RolloutEvent>[] = [
  { id: 'time', header: 'Time', width: '12.5rem', value: (e) => e.time, render: (e) => dateTime(e.time), sortable: false },
  {
    id: 'deployment',
    header: 'Deployment',
    width: 'minmax(7rem, 1fr)',
    value: (e) => e.deployment,
    render: (e) => (
      <Link to={{ page: 'rollout', name: e.deployment }} tabIndex={-1}>
        {e.deployment}
      </Link>
    ),
  },
  { id: 'type', header: 'Event', width: 'minmax(9rem, 1fr)', value: (e) => e.type },
  { id: 'revision', header: 'Rev.', width: '4rem', value: (e) => e.revision, render: (e) => `r${e.revision}` },
  { id: 'step', header: 'Step', width: '4rem', value: (e) => e.step },
  { id: 'message', header: 'Message', width: 'minmax(16rem, 4fr)', value: (e) => e.message, render: (e) => <span title={e.message}>{e.message}</span> },
];

export function Events() {
  useTitle('Events');
  const { state, role } = useFleet();
  const [deployment, setDeployment] = useState('');
  const selectId = useId();
  const deployments = useMemo(() => [...new Set(state.events.map((e) => e.deployment))].sort(), [state.events]);
  const events = useMemo(() => state.events.filter((e) => deployment === '' || e.deployment === deployment).toReversed(), [state.events, deployment]);
  return (
    <>
      <h1>Events</h1>
      <Section title="Rollout events">
        <div className="toolbar">
          <div className="field">
            <label htmlFor={selectId}>Deployment</label>
            <select id={selectId} value={deployment} onChange={(e) => setDeployment(e.target.value)}>
              <option value="">all</option>
              {deployments.map((d) => (
                <option key={d} value={d}>
                  {d}
                </option>
              ))}
            </select>
          </div>
        </div>
        <VirtualTable
          label="Rollout events, newest first"
          rows={events}
          columns={EVENT_COLUMNS}
          rowKey={(e) => `${e.deployment}#${e.seq}`}
          onActivate={(e) => navigate(routePath({ page: 'rollout', name: e.deployment }))}
          height={`min(50vh, ${(events.length + 1) * 38 + 4}px)`}
          empty={state.loaded ? 'No rollout events yet.' : 'Loading…'}
        />
      </Section>

      <Section className="card" title="Audit log">
        {role === 'viewer' ? (
          <p className="muted">The audit log is for operators: sign in with an operator token to see it.</p>
        ) : state.audit.length === 0 ? (
          <p className="muted">Nothing recorded yet.</p>
        ) : null}
        <div className="table-scroll">
          <table className="list compact">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {state.audit.map((a, i) => (
                // Audit entries carry no id; their time and place in the newest-first list tell them apart.
                <tr key={`${a.at}-${i}`}>
                  <td className="nowrap">{dateTime(a.at)}</td>
                  <td className="mono">{a.actor}</td>
                  <td className="nowrap">{a.action}</td>
                  <td className="mono" title={a.target}>
                    {a.target.startsWith('sha256:') ? shortDigest(a.target) : a.target}
                  </td>
                  <td className="mono small details" title={JSON.stringify(a.details)}>
                    {details(a.details)}
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
