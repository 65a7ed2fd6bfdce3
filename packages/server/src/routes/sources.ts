import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { addSource, deleteSource, getSourceView, listSourceViews, syncSourceNow } from '../gitops/service.js';
import type { SourceView } from '../gitops/spec.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';

const CreateBodySchema = z.object({
  name: z.string().min(1).max(63),
  url: z.string().min(1).max(2048),
  branch: z.string().min(1).max(200).optional(),
  path: z.string().max(1024).optional(),
  interval: z.string().min(1).max(32).optional(),
});
const NameParams = z.object({ name: z.string().min(1) });

/** GitOps sources: add, list, get, delete (pruning what it owns), and sync now. */
export function sourceRoutes(app: Api, ctx: ServerContext): void {
  const nameOf = (request: FastifyRequest): string => parseWith(NameParams, request.params, 'path').name;

  app.post('/v1/sources', async (request, reply): Promise<SourceView> => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const view = await addSource(ctx, `token:${who.tokenId}`, parseWith(CreateBodySchema, request.body));
    void reply.status(201);
    return view;
  });

  app.get('/v1/sources', async (request): Promise<{ items: SourceView[] }> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listSourceViews(ctx);
  });

  app.get('/v1/sources/:name', async (request): Promise<SourceView> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return getSourceView(ctx, nameOf(request));
  });

  app.delete('/v1/sources/:name', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    await deleteSource(ctx, `token:${who.tokenId}`, nameOf(request));
    return reply.status(204).send();
  });

  app.post('/v1/sources/:name/sync', async (request): Promise<SourceView> => {
    await authenticateOperator(ctx.store, request, 'operator');
    return syncSourceNow(ctx, nameOf(request));
  });
}
