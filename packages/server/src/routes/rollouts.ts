import type { ServerContext } from '../context.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';
import { listRolloutEventViews, rolloutStatusOf, sendRolloutCommand } from '../rollouts/service.js';

/** Staged rollouts: status, operator commands, and the event journal. */
export function rolloutHandlers(ctx: ServerContext): Pick<RouteHandlers, 'rolloutStatus' | 'rolloutCommand' | 'events'> {
  return {
    rolloutStatus: async ({ caller, params }) => rolloutStatusOf(ctx, params.name, caller),
    rolloutCommand: async ({ caller, params, body }) => sendRolloutCommand(ctx, actorOf(caller), params.name, params.command, body, caller),
    events: async ({ caller, query }) => listRolloutEventViews(ctx, query, caller),
  };
}
