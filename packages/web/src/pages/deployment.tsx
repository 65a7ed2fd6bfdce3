/**
 * One deployment: what it selects and runs, its conditions, every revision with the
 * release's model digests, signing key and git commit, and each node's state.
 */
import { useMemo, useState } from 'react';
import { Badge, PhaseBadge, StateBadge } from '../components/badges.js';
import { LatencyHistoryPanel } from '../components/latency-history.js';
import { Link } from '../components/link.js';
import { ProblemNote } from '../components/problem.js';
import { Section } from '../components/section.js';
import { type Column, type SortState, VirtualTable } from '../components/virtual-table.js';
import { condition, hasRollout, releasePart, releaseVersion, selectorText, stateCounts } from '../deployment-view.js';
import { dateTime, shortDigest } from '../format.js';
import { useAsync, useFleet, useTitle } from '../hooks.js';
import { navigate, routePath } from '../router.js';
import { sortRows } from '../selectors.js';
import type { DeploymentView } from '../types.js';

type NodeLine = DeploymentView['status']['nodes'][number];

const NODE_COLUMNS: Column<NodeLine>[] = [
  {
    id: 'node',
    header: 'Node',
    width: 'minmax(9rem, 2fr)',
    value: (l) => l.node,
    render: (l) => (
      <Link to={{ page: 'node', ref: l.node }} tabIndex={-1}>
        {l.node}
      </Link>
    ),
  },
  { id: 'revision', header: 'Revision', width: '6rem', align: 'end', value: (l) => l.revision, render: (l) => (l.revision === null ? '—' : `r${l.revision}`) },
  { id: 'state', header: 'State', width: '10rem', value: (l) => l.state, render: (l) => <StateBadge state={l.state} /> },
  { id: 'reason', header: 'Reason', width: 'minmax(8rem, 1.5fr)', value: (l) => l.reason },
  { id: 'endpoint', header: 'Endpoint', width: 'minmax(10rem, 1.5fr)', value: (l) => l.endpoint },
];

export function DeploymentPage(props: { name: string }) {
  useTitle(props.name);
  const { state, api } = useFleet();
  const d = state.deployments.get(props.name);
  const [sort, setSort] = useState<SortState>({ column: 'node', direction: 'ascending' });
  // Revisions are immutable: fetch again only when a new one appears.
  const revisions = useAsync((signal) => api.revisions(props.name, signal), [api, props.name, d?.status.revision]);
  const lines = useMemo(() => {
    const col = NODE_COLUMNS.find((c) => c.id === sort.column) ?? NODE_COLUMNS[0];
    return d === undefined || col === undefined ? [] : sortRows(d.status.nodes, col.value, sort.direction);
  }, [d, sort]);

  if (d === undefined) {
    return (
      <>
        <h1>{props.name}</h1>
        <p className="muted">{state.loaded ? `No deployment "${props.name}".` : 'Loading…'}</p>
      </>
    );
  }
  const ready = condition(d, 'Ready');
  const rollout = state.rollouts.get(d.metadata.name);
  const release = d.spec.release;

  return (
    <>
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link to={{ page: 'deployments' }}>Deployments</Link> / <span aria-current="page">{d.metadata.name}</span>
      </nav>
      <h1>
        {d.metadata.name}{' '}
        {ready === undefined ? null : (
          <Badge tone={ready.status === 'True' ? 'ok' : 'warn'} title={ready.message}>
            {ready.reason}
          </Badge>
        )}
      </h1>
      <dl className="facts">
        <div>
          <dt>Revision</dt>
          <dd>r{d.status.revision}</dd>
        </div>
        <div>
          <dt>Generation</dt>
          <dd>{d.metadata.generation}</dd>
        </div>
        <div>
          <dt>Version</dt>
          <dd>{releaseVersion(d.spec)}</dd>
        </div>
        <div>
          <dt>Selector</dt>
          <dd className="mono">{selectorText(d.spec)}</dd>
        </div>
        <div>
          <dt>Runtime</dt>
          <dd>
            {release?.runtime?.kind ?? '—'}, accelerator {release?.runtime?.accelerator ?? '—'}
          </dd>
        </div>
        <div>
          <dt>Managed by</dt>
          <dd>{d.metadata.source ?? 'edgefleet apply'}</dd>
        </div>
        <div className="wide">
          <dt>Rollout</dt>
          <dd>
            {rollout !== undefined ? (
              <>
                <PhaseBadge phase={rollout.phase} />{' '}
                <Link to={{ page: 'rollout', name: d.metadata.name }}>
                  revision {rollout.revision}, step {rollout.step} of {rollout.steps}
                </Link>
              </>
            ) : hasRollout(d) ? (
              'staged (not started)'
            ) : (
              'all selected nodes at once'
            )}
          </dd>
        </div>
      </dl>

      <Section className="card" title="Conditions">
        <table className="list">
          <thead>
            <tr>
              <th scope="col">Type</th>
              <th scope="col">Status</th>
              <th scope="col">Reason</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {d.status.conditions.map((c) => (
              <tr key={c.type}>
                <th scope="row">{c.type}</th>
                <td>{c.status}</td>
                <td>{c.reason}</td>
                <td>{c.message || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>

      <LatencyHistoryPanel name={d.metadata.name} revision={d.status.revision} />

      <Section className="card" title="Revisions">
        <ProblemNote error={revisions.error} title="Cannot list revisions" />
        <div className="table-scroll">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Revision</th>
                <th scope="col">Created</th>
                <th scope="col">Version</th>
                <th scope="col">Runs</th>
                <th scope="col">Fallback</th>
                <th scope="col">Signed by key</th>
                <th scope="col">Commit</th>
                <th scope="col">Release digest</th>
              </tr>
            </thead>
            <tbody>
              {[...(revisions.data ?? [])].reverse().map((r) => (
                <tr key={r.revision} aria-current={r.revision === d.status.revision ? 'true' : undefined}>
                  <th scope="row">
                    r{r.revision}
                    {r.revision === d.status.revision ? <span className="muted small"> (current)</span> : null}
                  </th>
                  <td>{dateTime(r.createdAt)}</td>
                  <td>{r.release.version}</td>
                  {(['primary', 'fallback'] as const).map((part) => {
                    const shown = releasePart(r.release, part);
                    return (
                      <td key={part} className="mono" title={shown?.title}>
                        {shown === null ? '—' : shown.text} {shown === null ? null : <span className="muted">{shown.detail}</span>}
                      </td>
                    );
                  })}
                  <td className="mono">{r.release.signature?.keyId ?? <span className="muted">unsigned</span>}</td>
                  <td className="mono" title={r.commit ?? undefined}>
                    {r.commit === null ? '—' : r.commit.slice(0, 10)}
                  </td>
                  <td className="mono" title={r.releaseDigest}>
                    {shortDigest(r.releaseDigest)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>

      <Section title="Nodes">
        <p className="muted small">
          {stateCounts(d)
            .map((s) => `${s.count} ${s.label}`)
            .join(' · ') || 'No node selected.'}
        </p>
        <VirtualTable
          label={`Nodes of ${d.metadata.name}`}
          rows={lines}
          columns={NODE_COLUMNS}
          rowKey={(l) => l.nodeId}
          sort={sort}
          onSort={setSort}
          onActivate={(l) => navigate(routePath({ page: 'node', ref: l.node }))}
          height={`min(60vh, ${(lines.length + 1) * 38 + 4}px)`}
          empty="The selector matches no node."
        />
      </Section>
    </>
  );
}
