import { assertFleetWide } from '../auth/scope.js';
import type { ServerContext } from '../context.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';
import { createRegistry, deleteRegistry, listRegistries } from '../registries/service.js';

/**
 * Container registries: add or replace, list, delete. Every node of the fleet may pull
 * with a registry's credentials, so a token limited to sites may not change them
 * (auth/scope.ts); it may list them (the list holds no secret) to write its releases.
 */
export function registryHandlers(ctx: ServerContext): Pick<RouteHandlers, 'createRegistry' | 'listRegistries' | 'deleteRegistry'> {
  return {
    createRegistry: async ({ caller, body }) => {
      assertFleetWide(caller, 'container registries');
      return createRegistry(ctx, actorOf(caller), body);
    },
    listRegistries: async () => listRegistries(ctx),
    deleteRegistry: async ({ caller, params }) => {
      assertFleetWide(caller, 'container registries');
      return deleteRegistry(ctx, actorOf(caller), params.name);
    },
  };
}
