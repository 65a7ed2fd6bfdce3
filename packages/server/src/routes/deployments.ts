import type { TrustedKey } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { deleteDeployment } from '../deployments/apply.js';
import { applyRequest, getDeploymentView, listDeploymentViews, listRevisionViews, listTrustedKeys, trustReleaseKey } from '../deployments/service.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';

const ApplyBodySchema = z.object({
  manifests: z.array(z.unknown()).min(1).max(500),
  /** Where each manifest came from (`file:line`), for messages. */
  origins: z.array(z.string()).optional(),
});
const NameParams = z.object({ name: z.string().min(1) });
const KeyBodySchema = z.object({ publicKey: z.string().min(1), signedBy: z.string().optional(), signature: z.string().optional() });

/** Deployments (apply, list, get, delete, revisions) and trusted release keys. */
export function deploymentRoutes(app: Api, ctx: ServerContext): void {
  const nameOf = (request: FastifyRequest): string => parseWith(NameParams, request.params, 'path').name;

  app.post('/v1/apply', async (request) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    return applyRequest(ctx, `token:${who.tokenId}`, parseWith(ApplyBodySchema, request.body));
  });

  app.get('/v1/deployments', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listDeploymentViews(ctx);
  });

  app.get('/v1/deployments/:name', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return getDeploymentView(ctx, nameOf(request));
  });

  app.get('/v1/deployments/:name/revisions', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listRevisionViews(ctx, nameOf(request));
  });

  app.delete('/v1/deployments/:name', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    await deleteDeployment(ctx, nameOf(request), `token:${who.tokenId}`);
    return reply.status(204).send();
  });

  app.get('/v1/keys', async (request): Promise<{ items: TrustedKey[] }> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listTrustedKeys(ctx);
  });

  app.post('/v1/keys', async (request, reply): Promise<TrustedKey> => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    const { key, created } = await trustReleaseKey(ctx, `token:${who.tokenId}`, parseWith(KeyBodySchema, request.body));
    if (created) void reply.status(201);
    return key;
  });
}
