import type { WorkloadStatus } from '@edgefleet/protocol';
import type { Store } from '../../src/store/index.js';

/**
 * Writes revision `revision` of deployment `name` straight into the store, as an apply would
 * have (no plan, no signature check): the selector `cpu.arch=arm64`, a release whose version
 * is the revision, and the staged `rollout` when one is given.
 */
export async function writeRevision(store: Store, name: string, revision: number, rollout?: object): Promise<void> {
  const spec = { selector: 'cpu.arch=arm64', release: { version: String(revision) }, ...(rollout === undefined ? {} : { rollout }) } as never;
  const old = await store.getDeployment(name);
  await store.writeDeployments(
    [
      {
        deployment: { name, spec, generation: revision, revision, source: null, createdAt: old?.createdAt ?? 1, updatedAt: revision },
        newRevision: {
          deployment: name,
          revision,
          release: { version: String(revision) } as never,
          releaseDigest: `digest-${revision}`,
          commit: null,
          createdAt: revision,
        },
      },
    ],
    [],
  );
}

/** What an agent reports for `deployment` once `revision` runs on its primary slot. */
export function runningStatus(deployment: string, revision: number): WorkloadStatus {
  return {
    deployment,
    revision,
    state: 'running',
    reason: null,
    message: null,
    endpoint: null,
    active: 'primary',
    servingRevision: revision,
    heldRevisions: [],
  };
}
