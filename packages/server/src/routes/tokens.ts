import type { ServerContext } from '../context.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';
import { createProvisionBatch, provisionBatchStatus } from '../tokens/provision.js';
import {
  createApiToken,
  createBootstrapToken,
  deleteApiToken,
  deleteBootstrapToken,
  listApiTokens,
  listAuditEntries,
  listBootstrapTokens,
} from '../tokens/service.js';

type TokenRoutes =
  | 'createProvisionBatch'
  | 'provisionBatchStatus'
  | 'createBootstrapToken'
  | 'listBootstrapTokens'
  | 'deleteBootstrapToken'
  | 'createApiToken'
  | 'listApiTokens'
  | 'deleteApiToken'
  | 'audit';

/** Bootstrap tokens (operators), API tokens (admins) and the audit log. Secrets are shown once, at creation. */
export function tokenHandlers(ctx: ServerContext): Pick<RouteHandlers, TokenRoutes> {
  return {
    createBootstrapToken: async ({ caller, body }) => createBootstrapToken(ctx, actorOf(caller), body, caller),
    listBootstrapTokens: async ({ caller }) => listBootstrapTokens(ctx, caller),
    createProvisionBatch: async ({ caller, body }) => createProvisionBatch(ctx, actorOf(caller), body, caller),
    provisionBatchStatus: async ({ caller, params }) => provisionBatchStatus(ctx, params.id, caller),
    deleteBootstrapToken: async ({ caller, params }) => {
      await deleteBootstrapToken(ctx, actorOf(caller), params.id, caller);
    },
    createApiToken: async ({ caller, body }) => createApiToken(ctx, actorOf(caller), body),
    listApiTokens: async () => listApiTokens(ctx),
    deleteApiToken: async ({ caller, params }) => {
      await deleteApiToken(ctx, actorOf(caller), params.id);
    },
    audit: async ({ caller, query }) => listAuditEntries(ctx, caller, query),
  };
}
