/**
 * The fleet at a glance: how many nodes are online, degraded and offline, a tile per site
 * coloured by its worst news, accelerators and firmware versions, rollouts in flight and
 * firing alerts. A label selector narrows all of it.
 */
import { useMemo, useState } from 'react';
import { PhaseBadge } from '../components/badges.js';
import { CountBars } from '../components/count-bars.js';
import { Link } from '../components/link.js';
import { Section } from '../components/section.js';
import { SelectorInput, useSelector } from '../components/selector-input.js';
import { useFleet, useTitle } from '../hooks.js';
import { countBy, filterRows, healthCounts, nodeRows, siteTiles } from '../selectors.js';

export function Overview() {
  useTitle('Fleet overview');
  const { state } = useFleet();
  const [text, setText] = useState('');
  const { selector, error } = useSelector(text);
  const all = useMemo(
    () => nodeRows(state.nodes.values(), state.deployments.values(), state.alerts, state.temperatures),
    [state.nodes, state.deployments, state.alerts, state.temperatures],
  );
  const rows = useMemo(() => filterRows(all, selector, ''), [all, selector]);
  const counts = healthCounts(rows);
  const tiles = useMemo(() => siteTiles(rows), [rows]);
  const rollouts = [...state.rollouts.values()].filter((r) => ['Progressing', 'Holding', 'Paused'].includes(r.phase));
  const nodesLink = (extra: string) => {
    const s = [text.trim(), extra].filter((x) => x !== '').join(',');
    return s === '' ? { page: 'nodes' as const } : { page: 'nodes' as const, selector: s };
  };

  return (
    <>
      <h1>Fleet overview</h1>
      <div className="toolbar">
        <SelectorInput value={text} onChange={setText} error={error} />
      </div>
      <section aria-label="Node counts" className="stats">
        <Link to={nodesLink('')} className="stat">
          <span className="stat-value">{counts.total.toLocaleString('en')}</span>
          <span className="stat-label">nodes</span>
        </Link>
        <div className="stat stat-ok">
          <span className="stat-value">{counts.online.toLocaleString('en')}</span>
          <span className="stat-label">online</span>
        </div>
        <div className="stat stat-warn">
          <span className="stat-value">{counts.degraded.toLocaleString('en')}</span>
          <span className="stat-label">degraded</span>
        </div>
        <div className="stat stat-bad">
          <span className="stat-value">{counts.offline.toLocaleString('en')}</span>
          <span className="stat-label">offline</span>
        </div>
      </section>
      <p className="muted small">
        Degraded: online, but a workload runs on its CPU fallback or failed, or an alert fires. Offline: no report for three intervals.
      </p>

      <Section title="Sites">
        {tiles.length === 0 ? <p className="muted">{state.loaded ? 'No nodes match.' : 'Loading…'}</p> : null}
        <ul className="tiles">
          {tiles.map((t) => (
            <li key={t.site}>
              <Link to={nodesLink(`geolocation.site=${t.site}`)} className={`tile tile-${t.health}`}>
                <span className="tile-name">{t.site}</span>
                <span className="tile-health">{t.health}</span>
                <span className="tile-counts">
                  {t.online} online · {t.degraded} degraded · {t.offline} offline
                </span>
                <span className="tile-bar" aria-hidden="true">
                  <span className="seg-ok" style={{ flexGrow: t.online }} />
                  <span className="seg-warn" style={{ flexGrow: t.degraded }} />
                  <span className="seg-bad" style={{ flexGrow: t.offline }} />
                </span>
              </Link>
            </li>
          ))}
        </ul>
      </Section>

      <div className="columns">
        <CountBars title="Accelerators" items={countBy(rows, (r) => r.accelerator)} total={rows.length} />
        <CountBars title="Firmware versions" items={countBy(rows, (r) => r.firmware)} total={rows.length} />
      </div>

      <div className="columns">
        <Section className="card" title="Rollouts in flight">
          {rollouts.length === 0 ? <p className="muted">None.</p> : null}
          <ul className="plain">
            {rollouts.map((r) => (
              <li key={r.deployment}>
                <Link to={{ page: 'rollout', name: r.deployment }}>{r.deployment}</Link> <PhaseBadge phase={r.phase} /> revision {r.revision}, step {r.step} of{' '}
                {r.steps}, {r.nodes.updated}/{r.nodes.total} updated
              </li>
            ))}
          </ul>
        </Section>
        <Section className="card" title="Firing alerts">
          {state.alerts.length === 0 ? <p className="muted">None.</p> : null}
          <ul className="plain">
            {state.alerts.slice(0, 10).map((a) => (
              <li key={`${a.nodeId}/${a.name}/${JSON.stringify(a.labels)}`}>
                <span className={`sev sev-${a.severity}`}>{a.severity}</span> <Link to={{ page: 'node', ref: a.node }}>{a.node}</Link> {a.name}: {a.message}
              </li>
            ))}
          </ul>
          {state.alerts.length > 10 ? <p className="muted small">and {state.alerts.length - 10} more</p> : null}
        </Section>
      </div>
    </>
  );
}
