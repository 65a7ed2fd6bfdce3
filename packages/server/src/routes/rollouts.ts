import { randomUUID } from 'node:crypto';
import { EdgefleetError, RolloutStrategySchema } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { parseRolloutState, type RolloutStatus, rolloutStatus } from '../rollouts/index.js';
import type { DeploymentRecord } from '../store/index.js';

const NameParams = z.object({ name: z.string().min(1) });
const CommandParams = z.object({ name: z.string().min(1), command: z.enum(['pause', 'resume', 'promote', 'abort', 'undo']) });
const CommandBody = z.object({ full: z.boolean().optional(), now: z.boolean().optional() }).strict();
const EventsQuery = z.object({ deployment: z.string().optional(), limit: z.coerce.number().int().min(1).max(10_000).default(500) });

/** Staged rollouts: status, operator commands, and the event journal. */
export function rolloutRoutes(app: Api, ctx: ServerContext): void {
  const deploymentWithRollout = async (request: FastifyRequest): Promise<DeploymentRecord> => {
    const { name } = parseWith(NameParams, request.params, 'path');
    const d = await ctx.store.getDeployment(name);
    if (d === undefined)
      throw new EdgefleetError({
        code: 'not_found',
        status: 404,
        message: `deployment "${name}" not found`,
        hint: 'list deployments with "edgefleet deployments list"',
      });
    if (d.spec.rollout === undefined) {
      throw new EdgefleetError({
        code: 'no_rollout',
        status: 409,
        message: `deployment "${name}" has no rollout strategy: a new revision goes to every selected node at once`,
        hint: 'add spec.rollout (steps, gates) to the manifest to roll out in stages',
      });
    }
    return d;
  };

  app.get('/v1/deployments/:name/rollout', async (request): Promise<RolloutStatus> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const d = await deploymentWithRollout(request);
    const stored = await ctx.store.getRollout(d.name);
    if (stored === undefined) {
      throw new EdgefleetError({
        code: 'not_found',
        status: 404,
        message: `the rollout of "${d.name}" has not started yet`,
        hint: 'the controller starts it within a second of apply; try again',
      });
    }
    const steps = RolloutStrategySchema.parse(d.spec.rollout).steps.length;
    const nodes = ctx.rollouts === undefined ? [] : await ctx.rollouts.targetedNodes(d, ctx.clock());
    return rolloutStatus(parseRolloutState(stored), steps, nodes);
  });

  app.post('/v1/deployments/:name/rollout/:command', async (request) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const { command } = parseWith(CommandParams, request.params, 'path');
    const body = parseWith(CommandBody, request.body ?? {});
    const d = await deploymentWithRollout(request);
    const payload: Record<string, unknown> = { command, by: `token:${who.tokenId}` };
    if (command === 'promote' && body.full === true) payload.full = true;
    if (command === 'undo' && body.now === true) payload.now = true;
    await ctx.store.enqueueRolloutCommand({ id: randomUUID(), deployment: d.name, command: payload, createdAt: ctx.clock() });
    await ctx.store.appendAudit({ at: ctx.clock(), actor: `token:${who.tokenId}`, action: `rollout.${command}`, target: d.name, details: body });
    ctx.rollouts?.kick();
    return { deployment: d.name, command, accepted: true };
  });

  app.get('/v1/events', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const q = parseWith(EventsQuery, request.query, 'query');
    const items = await ctx.store.listRolloutEvents({ limit: q.limit, ...(q.deployment === undefined ? {} : { deployment: q.deployment }) });
    return { items: items.map((e) => ({ deployment: e.deployment, seq: e.seq, time: new Date(e.at).toISOString(), ...(e.event as Record<string, unknown>) })) };
  });
}
