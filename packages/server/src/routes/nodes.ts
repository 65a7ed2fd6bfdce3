import { assertValidLabels, EdgefleetError, matchesSelector, type Node, NodeLabelPatchSchema, type NodeList, parseSelector } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { effectiveLabels, nodeView } from '../nodes/view.js';
import type { NodeRecord } from '../store/index.js';

const RefParams = z.object({ ref: z.string().min(1) });

/** Finds a node by id or, failing that, by name. */
export async function resolveNode(ctx: ServerContext, ref: string): Promise<NodeRecord> {
  const node = (await ctx.store.getNode(ref)) ?? (await ctx.store.getNodeByName(ref));
  if (node === undefined) {
    throw new EdgefleetError({
      code: 'not_found',
      status: 404,
      message: `node "${ref}" not found`,
      hint: 'list nodes with "edgefleet nodes list"; NODE is a node id or name',
    });
  }
  return node;
}

/** Operator routes for nodes: list (with selector), get, label, decommission. */
export function nodeRoutes(app: Api, ctx: ServerContext): void {
  const view = (n: NodeRecord): Node => nodeView(n, ctx.clock(), ctx.heartbeatIntervalMs);
  const ref = (request: FastifyRequest): string => parseWith(RefParams, request.params, 'path').ref;

  app.get('/v1/nodes', async (request): Promise<NodeList> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const { selector } = parseWith(z.object({ selector: z.string().optional() }), request.query, 'query');
    const parsed = parseSelector(selector ?? '');
    const nodes = (await ctx.store.listNodes()).filter((n) => matchesSelector(parsed, effectiveLabels(n)));
    return { items: nodes.map(view) };
  });

  app.get('/v1/nodes/:ref', async (request): Promise<Node> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return view(await resolveNode(ctx, ref(request)));
  });

  app.patch('/v1/nodes/:ref/labels', async (request): Promise<Node> => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const node = await resolveNode(ctx, ref(request));
    const patch = parseWith(NodeLabelPatchSchema, request.body);
    assertValidLabels(patch.set);
    const next = { ...node.operatorLabels, ...patch.set };
    for (const key of patch.remove) delete next[key];
    await ctx.store.setOperatorLabels(node.id, next);
    ctx.events.emit('desired');
    await ctx.store.appendAudit({
      at: ctx.clock(),
      actor: `token:${who.tokenId}`,
      action: 'node.label',
      target: node.id,
      details: { set: patch.set, remove: patch.remove },
    });
    return view({ ...node, operatorLabels: next });
  });

  app.delete('/v1/nodes/:ref', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    const node = await resolveNode(ctx, ref(request));
    const now = ctx.clock();
    await ctx.store.decommissionNode(node.id, now);
    await ctx.store.appendAudit({ at: now, actor: `token:${who.tokenId}`, action: 'node.decommission', target: node.id, details: { name: node.name } });
    request.log.info({ nodeId: node.id }, 'node decommissioned, certificates revoked');
    return reply.status(204).send();
  });
}
