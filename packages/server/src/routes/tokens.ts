import { type ApiTokenCreated, ApiTokenCreateSchema, type BootstrapTokenCreated, BootstrapTokenCreateSchema } from '@edgefleet/protocol';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import {
  createApiToken,
  createBootstrapToken,
  deleteApiToken,
  deleteBootstrapToken,
  listApiTokens,
  listAuditEntries,
  listBootstrapTokens,
} from '../tokens/service.js';

const IdParams = z.object({ id: z.string().min(1) });
const AuditQuery = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

/** Bootstrap tokens (operators) and API tokens (admins). Secrets are shown once, at creation. */
export function tokenRoutes(app: Api, ctx: ServerContext): void {
  app.post('/v1/tokens', async (request, reply): Promise<BootstrapTokenCreated> => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const created = await createBootstrapToken(ctx, `token:${who.tokenId}`, parseWith(BootstrapTokenCreateSchema, request.body));
    void reply.status(201);
    return created;
  });

  app.get('/v1/tokens', async (request) => {
    await authenticateOperator(ctx.store, request, 'operator');
    return listBootstrapTokens(ctx);
  });

  app.delete('/v1/tokens/:id', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    await deleteBootstrapToken(ctx, `token:${who.tokenId}`, parseWith(IdParams, request.params, 'path').id);
    return reply.status(204).send();
  });

  app.post('/v1/apitokens', async (request, reply): Promise<ApiTokenCreated> => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    const created = await createApiToken(ctx, `token:${who.tokenId}`, parseWith(ApiTokenCreateSchema, request.body));
    void reply.status(201);
    return created;
  });

  app.get('/v1/apitokens', async (request) => {
    await authenticateOperator(ctx.store, request, 'admin');
    return listApiTokens(ctx);
  });

  app.delete('/v1/apitokens/:id', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    await deleteApiToken(ctx, `token:${who.tokenId}`, parseWith(IdParams, request.params, 'path').id);
    return reply.status(204).send();
  });

  app.get('/v1/audit', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listAuditEntries(ctx, parseWith(AuditQuery, request.query, 'query').limit);
  });
}
