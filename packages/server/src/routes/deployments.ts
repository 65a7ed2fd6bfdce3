import type { ServerContext } from '../context.js';
import { deleteDeployment } from '../deployments/apply.js';
import {
  applyRequest,
  getDeploymentView,
  listDeploymentViews,
  listRevisionViews,
  listTrustedKeys,
  revokeReleaseKey,
  trustReleaseKey,
} from '../deployments/service.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';
import { latencyHistoryOf } from '../telemetry/latency-history/view.js';

type DeploymentRoutes =
  | 'apply'
  | 'listDeployments'
  | 'getDeployment'
  | 'listRevisions'
  | 'deploymentLatency'
  | 'deleteDeployment'
  | 'listKeys'
  | 'trustKey'
  | 'revokeKey';

/** Deployments (apply, list, get, delete, revisions) and trusted release keys. */
export function deploymentHandlers(ctx: ServerContext): Pick<RouteHandlers, DeploymentRoutes> {
  return {
    apply: async ({ caller, body }) => applyRequest(ctx, actorOf(caller), body, caller),
    listDeployments: async ({ caller }) => listDeploymentViews(ctx, caller),
    getDeployment: async ({ caller, params }) => getDeploymentView(ctx, params.name, caller),
    listRevisions: async ({ caller, params }) => listRevisionViews(ctx, params.name, caller),
    deploymentLatency: async ({ caller, params, query }) => latencyHistoryOf(ctx, params.name, query, caller),
    deleteDeployment: async ({ caller, params }) => {
      await deleteDeployment(ctx, params.name, actorOf(caller), caller);
    },
    listKeys: async () => listTrustedKeys(ctx),
    trustKey: async ({ caller, body, reply }) => {
      const { key, created } = await trustReleaseKey(ctx, actorOf(caller), body);
      // A key already trusted is answered with 200 and the existing key.
      if (!created) void reply.status(200);
      return key;
    },
    revokeKey: async ({ caller, params, body }) => revokeReleaseKey(ctx, actorOf(caller), params.keyId, body),
  };
}
