import { randomUUID } from 'node:crypto';
import {
  errors,
  type RolloutCommand,
  type RolloutCommandAccepted,
  type RolloutCommandOptions,
  type RolloutEventView,
  type RolloutStatus,
} from '@edgefleet/protocol';
import { auditInTx } from '../audit/audited.js';
import { deploymentInScope, FLEET_WIDE, isFleetWide, type Scope } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import { deploymentNotFound } from '../deployments/apply.js';
import type { DeploymentRecord, Store } from '../store/index.js';
import { rolloutEventView } from '../views/rollout-event.js';
import { rolloutNodesOf, rolloutView, unreadableRolloutView } from './view.js';

/** A deployment that has a rollout strategy: 404 without the deployment, 409 without `spec.rollout`. */
async function deploymentWithRollout(store: Store, name: string, scope: Scope): Promise<DeploymentRecord> {
  const d = await store.getDeployment(name);
  if (d === undefined || !deploymentInScope(scope, d)) throw deploymentNotFound(name);
  if (d.spec.rollout === undefined) {
    throw errors.noRollout(
      `deployment "${name}" has no rollout strategy: a new revision goes to every selected node at once`,
      'add spec.rollout (steps, gates) to the manifest to roll out in stages',
    );
  }
  return d;
}

/** Where a deployment's rollout stands, with its targeted nodes; 404 before the controller started it. */
export async function rolloutStatusOf(ctx: ServerContext, name: string, scope: Scope = FLEET_WIDE): Promise<RolloutStatus> {
  const d = await deploymentWithRollout(ctx.store, name, scope);
  let stored: unknown;
  try {
    stored = await ctx.store.getRollout(d.name);
  } catch (err) {
    // The store parses the row's JSON; any other error is the store's own.
    if (!(err instanceof SyntaxError)) throw err;
    return unreadableRolloutView(d, `not valid JSON (${err.message})`, await ctx.store.getRolloutStall(d.name));
  }
  if (stored === undefined) {
    throw errors.notFound(`the rollout of "${d.name}" has not started yet`, 'the controller starts it within a second of apply; try again');
  }
  const [records, workloads, stall] = await Promise.all([
    ctx.store.listNodeLabels(),
    ctx.store.listNodeWorkloads({ deployment: d.name }),
    ctx.store.getRolloutStall(d.name),
  ]);
  const reports = new Map(workloads.map((w) => [w.nodeId, w.status]));
  return rolloutView(d, stored, rolloutNodesOf(d, records, reports, ctx.clock(), ctx.heartbeatIntervalMs), stall);
}

/**
 * Queues an operator command for the rollout controller; the command and its audit entry
 * commit together, then the controller is nudged.
 */
export async function sendRolloutCommand(
  ctx: ServerContext,
  actor: string,
  name: string,
  command: RolloutCommand,
  options: RolloutCommandOptions,
  scope: Scope = FLEET_WIDE,
): Promise<RolloutCommandAccepted> {
  const d = await ctx.store.transaction(async (tx) => {
    const found = await deploymentWithRollout(tx, name, scope);
    const payload: Record<string, unknown> = { command, by: actor };
    if (command === 'promote' && options.full === true) payload.full = true;
    if (command === 'undo' && options.now === true) payload.now = true;
    const at = ctx.clock();
    await tx.enqueueRolloutCommand({ id: randomUUID(), deployment: found.name, command: payload, createdAt: at });
    await auditInTx(ctx, tx, { at, actor, action: `rollout.${command}`, target: found.name, details: { ...options } });
    return found;
  });
  ctx.rollouts?.kick();
  return { deployment: d.name, command, accepted: true };
}

/** The newest rollout events (of one deployment, or all), of deployments in the caller's scope. */
export async function listRolloutEventViews(
  ctx: ServerContext,
  q: { deployment?: string | undefined; limit: number },
  scope: Scope = FLEET_WIDE,
): Promise<{ items: RolloutEventView[] }> {
  const items = await ctx.store.listRolloutEvents({ limit: q.limit, ...(q.deployment === undefined ? {} : { deployment: q.deployment }) });
  if (isFleetWide(scope)) return { items: items.map(rolloutEventView) };
  const visible = new Set((await ctx.store.listDeployments()).filter((d) => deploymentInScope(scope, d)).map((d) => d.name));
  return { items: items.filter((e) => visible.has(e.deployment)).map(rolloutEventView) };
}
