import type { ServerContext } from '../context.js';
import { addSource, deleteSource, getSourceView, listSourceViews, syncSourceNow } from '../gitops/service.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';

/** GitOps sources: add, list, get, delete (pruning what it owns), and sync now. */
export function sourceHandlers(ctx: ServerContext): Pick<RouteHandlers, 'createSource' | 'listSources' | 'getSource' | 'deleteSource' | 'syncSource'> {
  return {
    createSource: async ({ caller, body }) => addSource(ctx, actorOf(caller), body),
    listSources: async () => listSourceViews(ctx),
    getSource: async ({ params }) => getSourceView(ctx, params.name),
    deleteSource: async ({ caller, params }) => {
      await deleteSource(ctx, actorOf(caller), params.name);
    },
    syncSource: async ({ params }) => syncSourceNow(ctx, params.name),
  };
}
