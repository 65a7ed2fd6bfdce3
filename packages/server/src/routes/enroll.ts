import { EnrollRequestSchema, type EnrollResponse } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { parseWith } from '../http/errors.js';
import { enrollNode } from '../nodes/enroll.js';

/** POST /v1/enroll: a bootstrap token and a CSR in, a client certificate out (nodes/enroll.ts). */
export function enrollRoutes(app: Api, ctx: ServerContext): void {
  app.post('/v1/enroll', async (request): Promise<EnrollResponse> => enrollNode(ctx, parseWith(EnrollRequestSchema, request.body), request.log));
}
