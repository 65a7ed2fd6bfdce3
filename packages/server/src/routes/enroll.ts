import type { ServerContext } from '../context.js';
import type { RouteHandlers } from '../http/routes.js';
import { enrollNode } from '../nodes/enroll.js';

/** POST /v1/enroll: a bootstrap token and a CSR in, a client certificate out (nodes/enroll.ts). */
export function enrollHandlers(ctx: ServerContext): Pick<RouteHandlers, 'enroll'> {
  return { enroll: async ({ body, request }) => enrollNode(ctx, body, request.log) };
}
