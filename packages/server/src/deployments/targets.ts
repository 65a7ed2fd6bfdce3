import type { ServerContext } from '../context.js';
import type { TargetedDeployment } from './desired.js';
import { selectorOf } from './plan-apply.js';

/** Every deployment with its selector and current revision, as the desired-state and status code need them. */
export async function loadTargets(ctx: ServerContext): Promise<TargetedDeployment[]> {
  const out: TargetedDeployment[] = [];
  for (const deployment of await ctx.store.listDeployments()) {
    const revision = await ctx.store.getRevision(deployment.name, deployment.revision);
    // A deployment is written with its revision in one transaction; a missing one would be a bug.
    if (revision !== undefined) out.push({ deployment, selector: selectorOf(deployment.spec.selector), revision });
  }
  return out;
}
