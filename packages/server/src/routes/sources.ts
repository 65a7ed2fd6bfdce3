import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { createSource, removeSource, syncSource } from '../gitops/reconcile.js';
import { type SourceView, sourceView, validateSourceRequest } from '../gitops/spec.js';
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

function notFound(name: string): EdgefleetError {
  return new EdgefleetError({
    code: 'not_found',
    status: 404,
    message: `source "${name}" not found`,
    hint: 'list sources with "edgefleet source list"',
  });
}

/** GitOps sources: add, list, get, delete (pruning what it owns), and sync now. */
export function sourceRoutes(app: Api, ctx: ServerContext): void {
  const nameOf = (request: FastifyRequest): string => parseWith(NameParams, request.params, 'path').name;

  app.post('/v1/sources', async (request, reply): Promise<SourceView> => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const spec = validateSourceRequest(parseWith(CreateBodySchema, request.body));
    const record = await createSource(ctx, spec, `token:${who.tokenId}`);
    void reply.status(201);
    return sourceView(record);
  });

  app.get('/v1/sources', async (request): Promise<{ items: SourceView[] }> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return { items: (await ctx.store.listSources()).map(sourceView) };
  });

  app.get('/v1/sources/:name', async (request): Promise<SourceView> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const name = nameOf(request);
    const source = await ctx.store.getSource(name);
    if (source === undefined) throw notFound(name);
    return sourceView(source);
  });

  app.delete('/v1/sources/:name', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const name = nameOf(request);
    if ((await removeSource(ctx, name, `token:${who.tokenId}`)) === undefined) throw notFound(name);
    return reply.status(204).send();
  });

  // Polls now (waiting for a pass another replica runs), retrying a refused head, and
  // answers with the status after that attempt.
  app.post('/v1/sources/:name/sync', async (request): Promise<SourceView> => {
    await authenticateOperator(ctx.store, request, 'operator');
    const name = nameOf(request);
    const source = await syncSource(ctx, name, { mode: 'forced' });
    if (source === undefined) throw notFound(name);
    return sourceView(source);
  });
}
