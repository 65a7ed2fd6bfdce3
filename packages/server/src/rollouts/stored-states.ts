/**
 * Every deployment's stored rollout state in one read, for the readers that go over all of
 * them at once (desired state's targets, the watch feed). One row whose text is not JSON
 * makes the store's list read throw: then the rows are read one by one, so that row is
 * reported unreadable and every other deployment still gets its state.
 */
import type { Store } from '../store/index.js';

/** A stored rollout state: its JSON value, or why its text cannot be read. */
export type StoredRolloutState = { readable: true; state: unknown } | { readable: false; cause: string };

/** The stored rollout states by deployment. */
export async function readRolloutStates(store: Store): Promise<Map<string, StoredRolloutState>> {
  const out = new Map<string, StoredRolloutState>();
  try {
    for (const r of await store.listRollouts()) out.set(r.deployment, { readable: true, state: r.state });
    return out;
  } catch (err) {
    // The store parses each row's JSON; any other error is the store's own.
    if (!(err instanceof SyntaxError)) throw err;
  }
  const staged = (await store.listDeployments()).filter((d) => d.spec.rollout !== undefined);
  for (const { name } of staged) {
    try {
      const state = await store.getRollout(name);
      if (state !== undefined) out.set(name, { readable: true, state });
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
      out.set(name, { readable: false, cause: `not valid JSON (${err.message})` });
    }
  }
  return out;
}
