import type { ServerContext } from '../context.js';
import type { RouteHandlers } from '../http/routes.js';
import { renewExpiredCertificate } from '../nodes/certificates.js';
import { enrollNode } from '../nodes/enroll.js';

/**
 * Routes a node calls without a valid client certificate: POST /v1/enroll (a bootstrap
 * token and a CSR in, a client certificate out; nodes/enroll.ts) and POST
 * /v1/renew-expired (an expired certificate renewed by proof of its key; nodes/certificates.ts).
 */
export function enrollHandlers(ctx: ServerContext): Pick<RouteHandlers, 'enroll' | 'renewExpired'> {
  return {
    enroll: async ({ body, request }) => enrollNode(ctx, body, request.log),
    renewExpired: async ({ body, request }) => renewExpiredCertificate(ctx, body, request.log),
  };
}
