import type { DeploymentManifest, Release } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { DeploymentRecord } from '../store/index.js';
import { trustedKeyMap } from './keys.js';
import { type ApplyResult, planApply, prunedDeployments } from './plan-apply.js';

/** Serialises applies per server context, so two concurrent applies cannot both take revision N+1. */
const queues = new WeakMap<ServerContext, Promise<unknown>>();

function serialised<T>(ctx: ServerContext, job: () => Promise<T>): Promise<T> {
  const previous = queues.get(ctx) ?? Promise.resolve();
  const run = previous.then(job, job);
  queues.set(
    ctx,
    run.catch(() => {}),
  );
  return run;
}

/** What an apply removed: deployments a source owned that are no longer in its manifests. */
export interface ApplyOutcome {
  results: ApplyResult[];
  pruned: string[];
}

/**
 * Applies a set of manifests as one unit: plan (pure, all-or-nothing), write in one
 * transaction, tell long-polling agents, audit. With `prune`, deployments owned by the same
 * source and missing from the set are deleted (inventory-based pruning, as Flux does).
 */
export function applyManifests(
  ctx: ServerContext,
  manifests: readonly DeploymentManifest[],
  opts: { source: string | null; commit: string | null; actor: string; prune: boolean },
): Promise<ApplyOutcome> {
  return serialised(ctx, async () => {
    const now = ctx.clock();
    const all = await ctx.store.listDeployments();
    const current = new Map<string, DeploymentRecord>(all.map((d) => [d.name, d]));
    const latestRelease = new Map<string, Release>();
    for (const d of all) {
      const rev = await ctx.store.getRevision(d.name, d.revision);
      if (rev !== undefined) latestRelease.set(d.name, rev.release);
    }
    const digests = new Set(
      manifests.flatMap((m) => [m.spec.release.model.artifact, m.spec.release.fallback?.artifact].filter((x): x is string => x !== undefined)),
    );
    const present = new Set<string>();
    for (const digest of digests) if (await ctx.artifacts.has(digest)) present.add(digest);
    const { writes, results } = planApply(manifests, {
      current,
      latestRelease,
      artifactPresent: (d) => present.has(d),
      trustedKeys: trustedKeyMap(await ctx.store.listReleaseKeys()),
      requireSigned: ctx.requireSigned,
      fleetLabelKeys: new Set((await ctx.store.listNodes()).flatMap((n) => [...Object.keys(n.detectedLabels), ...Object.keys(n.operatorLabels)])),
      now,
      source: opts.source,
      commit: opts.commit,
    });
    const pruned = opts.prune ? prunedDeployments(all, manifests, opts.source) : [];
    if (writes.length > 0 || pruned.length > 0) {
      await ctx.store.writeDeployments(writes, pruned);
      for (const r of results.filter((x) => x.result !== 'unchanged')) {
        await ctx.store.appendAudit({
          at: now,
          actor: opts.actor,
          action: `deployment.${r.result === 'created' ? 'create' : 'update'}`,
          target: r.name,
          details: { revision: r.revision, generation: r.generation, commit: opts.commit },
        });
      }
      for (const name of pruned)
        await ctx.store.appendAudit({ at: now, actor: opts.actor, action: 'deployment.prune', target: name, details: { commit: opts.commit } });
      ctx.events.emit('desired');
    }
    return { results, pruned };
  });
}

/** Deletes one deployment; nodes stop its workload at their next sync. */
export async function deleteDeployment(ctx: ServerContext, name: string, actor: string): Promise<void> {
  await serialised(ctx, async () => {
    await ctx.store.writeDeployments([], [name]);
    await ctx.store.appendAudit({ at: ctx.clock(), actor, action: 'deployment.delete', target: name, details: {} });
    ctx.events.emit('desired');
  });
}
