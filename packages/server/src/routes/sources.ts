import { assertFleetWide, isFleetWide } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import { addSource, deleteSource, getSourceView, listSourceViews, syncSourceNow } from '../gitops/service.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';

/**
 * GitOps sources: add, list, get, delete (pruning what it owns), and sync now. A source
 * applies its manifests with fleet-wide authority, so a token limited to sites may
 * neither manage nor read them (auth/scope.ts).
 */
export function sourceHandlers(ctx: ServerContext): Pick<RouteHandlers, 'createSource' | 'listSources' | 'getSource' | 'deleteSource' | 'syncSource'> {
  return {
    createSource: async ({ caller, body }) => {
      assertFleetWide(caller, 'GitOps sources');
      return addSource(ctx, actorOf(caller), body);
    },
    listSources: async ({ caller }) => (isFleetWide(caller) ? listSourceViews(ctx) : { items: [] }),
    getSource: async ({ caller, params }) => {
      assertFleetWide(caller, 'GitOps sources');
      return getSourceView(ctx, params.name);
    },
    deleteSource: async ({ caller, params }) => {
      assertFleetWide(caller, 'GitOps sources');
      await deleteSource(ctx, actorOf(caller), params.name);
    },
    syncSource: async ({ caller, params }) => {
      assertFleetWide(caller, 'GitOps sources');
      return syncSourceNow(ctx, params.name);
    },
  };
}
