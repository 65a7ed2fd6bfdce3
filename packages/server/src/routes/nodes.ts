import { type Node, NodeLabelPatchSchema, type NodeList } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { decommissionNode, getNodeView, labelNode, listNodeViews } from '../nodes/service.js';

const RefParams = z.object({ ref: z.string().min(1) });
const ListQuery = z.object({ selector: z.string().optional() });

/** Operator routes for nodes: list (with selector), get, label, decommission. */
export function nodeRoutes(app: Api, ctx: ServerContext): void {
  const ref = (request: FastifyRequest): string => parseWith(RefParams, request.params, 'path').ref;

  app.get('/v1/nodes', async (request): Promise<NodeList> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listNodeViews(ctx, parseWith(ListQuery, request.query, 'query').selector);
  });

  app.get('/v1/nodes/:ref', async (request): Promise<Node> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return getNodeView(ctx, ref(request));
  });

  app.patch('/v1/nodes/:ref/labels', async (request): Promise<Node> => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    return labelNode(ctx, `token:${who.tokenId}`, ref(request), parseWith(NodeLabelPatchSchema, request.body));
  });

  app.delete('/v1/nodes/:ref', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    await decommissionNode(ctx, `token:${who.tokenId}`, ref(request), request.log);
    return reply.status(204).send();
  });
}
