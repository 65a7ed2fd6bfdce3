/** Every deployment: revision, selector, how many nodes serve it, and its rollout if one runs. */
import { Badge, PhaseBadge } from '../components/badges.js';
import { Link } from '../components/link.js';
import { condition, hasRollout, releaseVersion, selectorText, servingCount } from '../deployment-view.js';
import { useFleet, useTitle } from '../hooks.js';

export function Deployments() {
  useTitle('Deployments');
  const { state } = useFleet();
  const list = [...state.deployments.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  return (
    <>
      <h1>Deployments</h1>
      {list.length === 0 ? (
        <p className="muted">{state.loaded ? 'No deployments yet. Apply one with: edgefleet apply -f detect.yaml' : 'Loading…'}</p>
      ) : (
        <div className="table-scroll">
          <table className="list">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Revision</th>
                <th scope="col">Version</th>
                <th scope="col">Selector</th>
                <th scope="col">Ready</th>
                <th scope="col">Serving</th>
                <th scope="col">Rollout</th>
              </tr>
            </thead>
            <tbody>
              {list.map((d) => {
                const ready = condition(d, 'Ready');
                const rollout = state.rollouts.get(d.metadata.name);
                return (
                  <tr key={d.metadata.name}>
                    <td>
                      <Link to={{ page: 'deployment', name: d.metadata.name }}>{d.metadata.name}</Link>
                      {d.metadata.source === null ? null : <span className="muted small"> from {d.metadata.source}</span>}
                    </td>
                    <td>r{d.status.revision}</td>
                    <td>{releaseVersion(d.spec)}</td>
                    <td className="mono">{selectorText(d.spec)}</td>
                    <td>
                      {ready === undefined ? (
                        '—'
                      ) : (
                        <Badge tone={ready.status === 'True' ? 'ok' : 'warn'} title={ready.message}>
                          {ready.reason}
                        </Badge>
                      )}
                    </td>
                    <td>
                      {servingCount(d)} / {d.status.nodes.length}
                    </td>
                    <td>
                      {rollout !== undefined ? (
                        <>
                          <PhaseBadge phase={rollout.phase} />{' '}
                          <Link to={{ page: 'rollout', name: d.metadata.name }}>
                            step {rollout.step} of {rollout.steps}
                          </Link>
                        </>
                      ) : hasRollout(d) ? (
                        'staged'
                      ) : (
                        'all at once'
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
