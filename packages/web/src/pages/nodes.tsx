/**
 * Every node in one table: columns as data (one revision column per deployment), sortable,
 * filtered by label selector, by name or site, and by health. Windowed, so 10,000 rows
 * stay quick; Enter or a click opens the node.
 */
import { useDeferredValue, useId, useMemo, useState } from 'react';
import { HealthBadge } from '../components/badges.js';
import { Link } from '../components/link.js';
import { SelectorInput, useSelector } from '../components/selector-input.js';
import { type Column, type SortState, VirtualTable } from '../components/virtual-table.js';
import { ago, celsius } from '../format.js';
import { useFleet, useNow, useTitle } from '../hooks.js';
import { navigate, routePath } from '../router.js';
import { filterRows, type NodeHealth, type NodeRow, nodeRows, sortRows } from '../selectors.js';

/** The table's columns; revision columns follow, one per deployment. */
export function nodeColumns(deployments: readonly string[], now: number): Column<NodeRow>[] {
  return [
    {
      id: 'name',
      header: 'Name',
      width: 'minmax(9rem, 2fr)',
      value: (r) => r.name,
      render: (r) => (
        <Link to={{ page: 'node', ref: r.name }} tabIndex={-1}>
          {r.name}
        </Link>
      ),
    },
    { id: 'site', header: 'Site', width: 'minmax(7rem, 1.3fr)', value: (r) => r.site },
    { id: 'status', header: 'Status', width: '7rem', value: (r) => r.health, render: (r) => <HealthBadge health={r.health} /> },
    { id: 'accelerator', header: 'Accelerator', width: 'minmax(6rem, 1fr)', value: (r) => r.accelerator },
    ...deployments.map(
      (d): Column<NodeRow> => ({
        id: `revision:${d}`,
        header: `${d} rev.`,
        width: 'minmax(5rem, 0.8fr)',
        align: 'end',
        value: (r) => (d in r.revisions ? (r.revisions[d] ?? null) : null),
        render: (r) => (d in r.revisions ? (r.revisions[d] === null ? 'pending' : `r${r.revisions[d]}`) : '—'),
      }),
    ),
    { id: 'lastSeen', header: 'Last seen', width: '7.5rem', value: (r) => r.lastSeen, render: (r) => ago(r.lastSeen, now) },
    {
      id: 'temperature',
      header: 'Temp.',
      width: '6rem',
      align: 'end',
      value: (r) => r.temperature,
      render: (r) => <span className={r.temperature !== null && r.temperature >= 80 ? 'hot' : undefined}>{celsius(r.temperature)}</span>,
    },
  ];
}

export function Nodes(props: { selector?: string | undefined }) {
  useTitle('Nodes');
  const { state } = useFleet();
  const now = useNow(10_000);
  const [selectorText, setSelectorText] = useState(props.selector ?? '');
  const [text, setText] = useState('');
  const [health, setHealth] = useState<NodeHealth | 'all'>('all');
  const [sort, setSort] = useState<SortState>({ column: 'name', direction: 'ascending' });
  const { selector, error } = useSelector(selectorText);
  const searchId = useId();
  const healthId = useId();
  // Typing stays responsive on a big fleet: the table catches up a frame later.
  const deferredText = useDeferredValue(text);

  const deployments = useMemo(() => [...state.deployments.keys()].sort(), [state.deployments]);
  const columns = useMemo(() => nodeColumns(deployments, now), [deployments, now]);
  const all = useMemo(
    () => nodeRows(state.nodes.values(), state.deployments.values(), state.alerts, state.temperatures),
    [state.nodes, state.deployments, state.alerts, state.temperatures],
  );
  // Sort everything once, then filter the sorted list (filtering keeps the order): typing
  // in a filter box then costs one pass over the rows, never a sort of the whole fleet.
  const sortValue = useMemo(() => {
    const cols = nodeColumns(deployments, 0);
    return (cols.find((c) => c.id === sort.column) ?? cols[0])?.value;
  }, [deployments, sort.column]);
  const sortedAll = useMemo(() => (sortValue === undefined ? all : sortRows(all, sortValue, sort.direction)), [all, sortValue, sort.direction]);
  const sorted = useMemo(() => {
    const f = filterRows(sortedAll, selector, deferredText);
    return health === 'all' ? f : f.filter((r) => r.health === health);
  }, [sortedAll, selector, deferredText, health]);

  return (
    <>
      <h1>Nodes</h1>
      <div className="toolbar">
        <SelectorInput value={selectorText} onChange={setSelectorText} error={error} />
        <div className="field">
          <label htmlFor={searchId}>Name or site contains</label>
          <input id={searchId} type="search" value={text} onChange={(e) => setText(e.target.value)} autoComplete="off" spellCheck={false} />
        </div>
        <div className="field">
          <label htmlFor={healthId}>Status</label>
          <select id={healthId} value={health} onChange={(e) => setHealth(e.target.value as NodeHealth | 'all')}>
            <option value="all">all</option>
            <option value="online">online</option>
            <option value="degraded">degraded</option>
            <option value="offline">offline</option>
          </select>
        </div>
      </div>
      <output className="muted small count" aria-live="polite" data-testid="node-count">
        Showing {sorted.length.toLocaleString('en')} of {all.length.toLocaleString('en')} nodes
      </output>
      <VirtualTable
        label="Nodes"
        rows={sorted}
        columns={columns}
        rowKey={(r) => r.id}
        sort={sort}
        onSort={setSort}
        onActivate={(r) => navigate(routePath({ page: 'node', ref: r.name }))}
        height={`min(calc(100vh - 17rem), ${(sorted.length + 1) * 38 + 4}px)`}
        empty={state.loaded ? 'No node matches the filters.' : 'Loading…'}
      />
    </>
  );
}
