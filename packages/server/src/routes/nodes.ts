import type { ServerContext } from '../context.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';
import { createReenrollToken, listNodeCertificates, revokeNodeCertificate } from '../nodes/certificates.js';
import { decommissionNode, getNodeView, labelNode, listNodeViews } from '../nodes/service.js';

type NodeRoutes = 'listNodes' | 'getNode' | 'labelNode' | 'deleteNode' | 'reenrollNode' | 'listNodeCertificates' | 'revokeNodeCertificate';

/** Operator routes for nodes: list (with selector), get, label, decommission, re-enroll token, certificates (list, revoke one). */
export function nodeHandlers(ctx: ServerContext): Pick<RouteHandlers, NodeRoutes> {
  return {
    listNodes: async ({ caller, query }) => listNodeViews(ctx, query.selector, caller),
    getNode: async ({ caller, params }) => getNodeView(ctx, params.ref, caller),
    labelNode: async ({ caller, params, body }) => labelNode(ctx, actorOf(caller), params.ref, body, caller),
    deleteNode: async ({ caller, params, request }) => {
      await decommissionNode(ctx, actorOf(caller), params.ref, request.log, caller);
    },
    reenrollNode: async ({ caller, params, body }) => createReenrollToken(ctx, actorOf(caller), params.ref, body, caller),
    listNodeCertificates: async ({ caller, params }) => listNodeCertificates(ctx, params.ref, caller),
    revokeNodeCertificate: async ({ caller, params, request }) => {
      await revokeNodeCertificate(ctx, actorOf(caller), params.ref, params.serial, request.log, caller);
    },
  };
}
