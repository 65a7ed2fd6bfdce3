import type { ServerContext } from '../context.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';
import { decommissionNode, getNodeView, labelNode, listNodeViews } from '../nodes/service.js';

/** Operator routes for nodes: list (with selector), get, label, decommission. */
export function nodeHandlers(ctx: ServerContext): Pick<RouteHandlers, 'listNodes' | 'getNode' | 'labelNode' | 'deleteNode'> {
  return {
    listNodes: async ({ caller, query }) => listNodeViews(ctx, query.selector, caller),
    getNode: async ({ caller, params }) => getNodeView(ctx, params.ref, caller),
    labelNode: async ({ caller, params, body }) => labelNode(ctx, actorOf(caller), params.ref, body, caller),
    deleteNode: async ({ caller, params, request }) => {
      await decommissionNode(ctx, actorOf(caller), params.ref, request.log, caller);
    },
  };
}
