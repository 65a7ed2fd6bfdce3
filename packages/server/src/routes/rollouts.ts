import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { listRolloutEventViews, rolloutStatusOf, sendRolloutCommand } from '../rollouts/service.js';
import type { RolloutStatus } from '../rollouts/status.js';

const NameParams = z.object({ name: z.string().min(1) });
const CommandParams = z.object({ name: z.string().min(1), command: z.enum(['pause', 'resume', 'promote', 'abort', 'undo']) });
const CommandBody = z.object({ full: z.boolean().optional(), now: z.boolean().optional() }).strict();
const EventsQuery = z.object({ deployment: z.string().optional(), limit: z.coerce.number().int().min(1).max(10_000).default(500) });

/** Staged rollouts: status, operator commands, and the event journal. */
export function rolloutRoutes(app: Api, ctx: ServerContext): void {
  app.get('/v1/deployments/:name/rollout', async (request): Promise<RolloutStatus> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return rolloutStatusOf(ctx, parseWith(NameParams, request.params, 'path').name);
  });

  app.post('/v1/deployments/:name/rollout/:command', async (request) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const { name, command } = parseWith(CommandParams, request.params, 'path');
    return sendRolloutCommand(ctx, `token:${who.tokenId}`, name, command, parseWith(CommandBody, request.body ?? {}));
  });

  app.get('/v1/events', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listRolloutEventViews(ctx, parseWith(EventsQuery, request.query, 'query'));
  });
}
