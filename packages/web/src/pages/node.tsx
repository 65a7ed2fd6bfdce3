/**
 * One node: identity and health, labels (whose they are), hardware facts, workloads per
 * deployment, alerts, charts of its metrics, and its recent log lines. Metrics and logs are
 * fetched again each time the watch stream reports the node (each heartbeat).
 */

import type { EdgefleetError } from '@edgefleet/protocol';
import { useEffect, useMemo, useRef, useState } from 'react';
import { HealthBadge, StateBadge } from '../components/badges.js';
import { Link } from '../components/link.js';
import { ProblemNote } from '../components/problem.js';
import { Section } from '../components/section.js';
import { TimeChart } from '../components/time-chart.js';
import { ago, bytes, celsius, dateTime, percent } from '../format.js';
import { useFleet, useNow, useTitle } from '../hooks.js';
import { type ObservedSeries, observe } from '../observations.js';
import { alertingNodes, nodeHealth, workloadsByNode } from '../selectors.js';
import type { AlertView, LogLine, Node } from '../types.js';

/** The node metrics charted, with how to show them. */
const CHARTS = [
  { name: 'edgefleet_node_temperature_celsius', title: 'Temperature', color: '#b3261e', format: (v: number) => `${v.toFixed(1)} °C` },
  { name: 'edgefleet_node_cpu_usage_ratio', title: 'CPU usage', color: '#1a5fb4', format: (v: number) => percent(v, 0) },
  { name: 'edgefleet_node_memory_used_bytes', title: 'Memory used', color: '#6b3fa0', format: (v: number) => bytes(v) },
  { name: 'edgefleet_node_load1', title: 'Load (1 min)', color: '#26734d', format: (v: number) => v.toFixed(2) },
] as const;
const CHART_NAMES = CHARTS.map((c) => c.name);
const MAX_LOG_LINES = 200;

function findNode(nodes: ReadonlyMap<string, Node>, ref: string): Node | undefined {
  const byId = nodes.get(ref);
  if (byId !== undefined) return byId;
  for (const n of nodes.values()) if (n.name === ref) return n;
  return undefined;
}

/** Facts as label/value pairs; the probe writes null for what it could not tell. */
function factRows(facts: Record<string, unknown>): Array<[string, string]> {
  const f = facts as {
    board?: { model?: string | null; serial?: string | null };
    cpu?: { arch?: string; cores?: number | null };
    memoryBytes?: number | null;
    firmware?: { version?: string | null };
    thermal?: { temperatureC?: number | null; throttledBits?: number | null };
    accelerators?: Array<{ kind: string; device: string; firmwareVersion?: string }>;
    hostname?: string | null;
    agentVersion?: string;
  };
  const rows: Array<[string, string | null | undefined]> = [
    ['Board', f.board?.model],
    ['Serial', f.board?.serial],
    ['CPU', f.cpu === undefined ? undefined : `${f.cpu.arch}${f.cpu.cores ? `, ${f.cpu.cores} cores` : ''}`],
    ['Memory', f.memoryBytes === null || f.memoryBytes === undefined ? undefined : bytes(f.memoryBytes)],
    ['Firmware', f.firmware?.version],
    [
      'Accelerators',
      f.accelerators === undefined
        ? undefined
        : f.accelerators.length === 0
          ? 'none'
          : f.accelerators.map((a) => `${a.kind} (${a.device}${a.firmwareVersion ? `, fw ${a.firmwareVersion}` : ''})`).join('; '),
    ],
    ['Temperature (last report)', f.thermal?.temperatureC === undefined ? undefined : celsius(f.thermal.temperatureC)],
    ['Throttled bits', f.thermal?.throttledBits === null || f.thermal?.throttledBits === undefined ? undefined : `0x${f.thermal.throttledBits.toString(16)}`],
    ['Hostname', f.hostname],
    ['Agent', f.agentVersion],
  ];
  return rows.map(([k, v]) => [k, v === null || v === undefined || v === '' ? '—' : v]);
}

export function NodePage(props: { nodeRef: string }) {
  const { state, api } = useFleet();
  const now = useNow();
  const node = findNode(state.nodes, props.nodeRef);
  useTitle(node?.name ?? props.nodeRef);
  const workloads = useMemo(() => (node === undefined ? [] : (workloadsByNode(state.deployments.values()).get(node.id) ?? [])), [state.deployments, node]);
  const [observed, setObserved] = useState<ReadonlyMap<string, ObservedSeries>>(new Map());
  const [alerts, setAlerts] = useState<AlertView[]>([]);
  const [logs, setLogs] = useState<LogLine[]>([]);
  const [problem, setProblem] = useState<EdgefleetError | undefined>(undefined);
  const logCursor = useRef<number | undefined>(undefined);

  const nodeId = node?.id;
  const lastSeen = node?.lastSeen;

  // A different node starts from nothing.
  // biome-ignore lint/correctness/useExhaustiveDependencies: nodeId is the trigger: reset when the page shows another node
  useEffect(() => {
    setObserved(new Map());
    setLogs([]);
    setAlerts([]);
    logCursor.current = undefined;
  }, [nodeId]);

  // Each report of the node (its lastSeen moves) is a reason to look again.
  // biome-ignore lint/correctness/useExhaustiveDependencies: lastSeen is the trigger, not an input
  useEffect(() => {
    if (nodeId === undefined) return;
    const ctl = new AbortController();
    const after = logCursor.current;
    Promise.all([
      api.nodeTelemetry(nodeId, ctl.signal),
      api.nodeLogs(nodeId, after === undefined ? { since: '15m', limit: 1000 } : { after, limit: 1000 }, ctl.signal),
    ]).then(
      ([t, l]) => {
        if (ctl.signal.aborted) return;
        setObserved((h) => observe(h, t.latest, CHART_NAMES));
        setAlerts(t.alerts);
        logCursor.current = l.next;
        if (l.items.length > 0) setLogs((old) => [...old, ...l.items].slice(-MAX_LOG_LINES));
        setProblem(undefined);
      },
      (err: EdgefleetError) => {
        if (!ctl.signal.aborted) setProblem(err);
      },
    );
    return () => ctl.abort();
  }, [api, nodeId, lastSeen]);

  if (node === undefined) {
    return (
      <>
        <h1>{props.nodeRef}</h1>
        <p className="muted">{state.loaded ? `No node "${props.nodeRef}" in this fleet (it may have been decommissioned).` : 'Loading…'}</p>
        <Link to={{ page: 'nodes' }}>All nodes</Link>
      </>
    );
  }
  const health = nodeHealth(node, workloads, alertingNodes(state.alerts).has(node.id));
  const labelKeys = Object.keys(node.labels).sort();

  return (
    <>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to={{ page: 'nodes' }}>Nodes</Link> / <span aria-current="page">{node.name}</span>
      </nav>
      <h1>
        {node.name} <HealthBadge health={health} />
      </h1>
      <p className="muted">
        {node.site ?? 'no site'} · id {node.id} · last seen {ago(node.lastSeen === null ? null : Date.parse(node.lastSeen), now)} · certificate until{' '}
        {dateTime(node.certificate.notAfter)}
      </p>
      <ProblemNote error={problem} title="Cannot read the node's telemetry" />

      <div className="columns">
        <Section className="card" title="Labels">
          <table className="kv">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Value</th>
                <th scope="col">Set by</th>
              </tr>
            </thead>
            <tbody>
              {labelKeys.map((k) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td>{node.labels[k]}</td>
                  <td className="muted">{k in node.operatorLabels ? 'operator' : 'node'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section className="card" title="Hardware">
          <table className="kv">
            <tbody>
              {factRows(node.facts).map(([k, v]) => (
                <tr key={k}>
                  <th scope="row">{k}</th>
                  <td>{v}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      </div>

      <Section className="card" title="Workloads">
        {workloads.length === 0 ? (
          <p className="muted">No deployment targets this node.</p>
        ) : (
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Deployment</th>
                <th scope="col">Revision</th>
                <th scope="col">State</th>
                <th scope="col">Reason</th>
                <th scope="col">Endpoint</th>
              </tr>
            </thead>
            <tbody>
              {workloads.map((w) => (
                <tr key={w.deployment}>
                  <td>
                    <Link to={{ page: 'deployment', name: w.deployment }}>{w.deployment}</Link>
                  </td>
                  <td>{w.revision === null ? '—' : `r${w.revision}`}</td>
                  <td>
                    <StateBadge state={w.state} {...(w.message === null ? {} : { title: w.message })} />
                  </td>
                  <td>{w.reason ?? '—'}</td>
                  <td className="mono">{w.endpoint ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Section>

      <Section className="card" title="Alerts">
        {alerts.length === 0 ? <p className="muted">No alerts reported.</p> : null}
        <ul className="plain">
          {alerts.map((a) => (
            <li key={`${a.name}/${JSON.stringify(a.labels)}`}>
              <span className={`sev sev-${a.state === 'firing' ? a.severity : 'resolved'}`}>{a.state === 'firing' ? a.severity : 'resolved'}</span> {a.name}:{' '}
              {a.message} <span className="muted small">since {dateTime(a.since)}</span>
            </li>
          ))}
        </ul>
      </Section>

      <Section title="Metrics">
        <p className="muted small">
          Values observed while this page is open (the server keeps each series' latest value; point Prometheus at it with --remote-write for history).
        </p>
        <div className="chart-grid">
          {CHARTS.map((c) => {
            const s = observed.get(c.name);
            return (
              <TimeChart
                key={c.name}
                title={c.title}
                series={[{ label: c.title, color: c.color }]}
                times={s?.times ?? []}
                values={[s?.values ?? []]}
                format={c.format}
                height={160}
                emptyText="No value reported yet."
              />
            );
          })}
        </div>
      </Section>

      <Section className="card" title="Recent logs">
        {logs.length === 0 ? <p className="muted">No log lines in the last 15 minutes.</p> : null}
        {/* biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take focus so keyboard users can scroll it */}
        <div className="logs" role="log" aria-label="Recent log lines" tabIndex={0}>
          {logs.map((l) => (
            <div key={l.id} className={`log log-${l.level}`}>
              <span className="log-time">{dateTime(l.time)}</span> <span className="log-source">{l.source}</span> <span className="log-level">{l.level}</span>{' '}
              {l.line}
            </div>
          ))}
        </div>
      </Section>
    </>
  );
}
