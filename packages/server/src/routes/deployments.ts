import { EdgefleetError, type TrustedKey, type WorkloadStatus } from '@edgefleet/protocol';
import { parsePublicKey, publicKeyId, validateManifest } from '@edgefleet/protocol/node';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { applyManifests, deleteDeployment } from '../deployments/apply.js';
import { endorsementProblem, toTrustedKey, trustedKeyMap } from '../deployments/keys.js';
import { selectorOf } from '../deployments/plan-apply.js';
import { deploymentStatus } from '../deployments/status.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { nodeView } from '../nodes/view.js';
import type { DeploymentRecord } from '../store/index.js';

const ApplyBodySchema = z.object({
  manifests: z.array(z.unknown()).min(1).max(500),
  /** Where each manifest came from (`file:line`), for messages. */
  origins: z.array(z.string()).optional(),
});
const NameParams = z.object({ name: z.string().min(1) });
const KeyBodySchema = z.object({ publicKey: z.string().min(1), signedBy: z.string().optional(), signature: z.string().optional() });

async function notFound(name: string): Promise<never> {
  throw new EdgefleetError({
    code: 'not_found',
    status: 404,
    message: `deployment "${name}" not found`,
    hint: 'list deployments with "edgefleet deployments list"',
  });
}

/** Deployments (apply, list, get, delete, revisions) and trusted release keys. */
export function deploymentRoutes(app: Api, ctx: ServerContext): void {
  const view = async (d: DeploymentRecord) => {
    const now = ctx.clock();
    const nodes = (await ctx.store.listNodes()).map((n) => nodeView(n, now, ctx.heartbeatIntervalMs));
    const reports = new Map<string, WorkloadStatus>((await ctx.store.listNodeWorkloads({ deployment: d.name })).map((w) => [w.nodeId, w.status]));
    return {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: {
        name: d.name,
        generation: d.generation,
        source: d.source,
        createdAt: new Date(d.createdAt).toISOString(),
        updatedAt: new Date(d.updatedAt).toISOString(),
      },
      spec: d.spec,
      status: deploymentStatus(d, selectorOf(d.spec.selector), nodes, reports),
    };
  };
  const nameOf = (request: FastifyRequest): string => parseWith(NameParams, request.params, 'path').name;

  app.post('/v1/apply', async (request) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const body = parseWith(ApplyBodySchema, request.body);
    const manifests = body.manifests.map((m, i) => validateManifest(m, body.origins?.[i] ?? `manifests[${i}]`, 1));
    const outcome = await applyManifests(ctx, manifests, { source: null, commit: null, actor: `token:${who.tokenId}`, prune: false });
    return { results: outcome.results };
  });

  app.get('/v1/deployments', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return { items: await Promise.all((await ctx.store.listDeployments()).map(view)) };
  });

  app.get('/v1/deployments/:name', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const d = (await ctx.store.getDeployment(nameOf(request))) ?? (await notFound(nameOf(request)));
    return view(d);
  });

  app.get('/v1/deployments/:name/revisions', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const name = nameOf(request);
    if ((await ctx.store.getDeployment(name)) === undefined) await notFound(name);
    const revisions = await ctx.store.listRevisions(name);
    return {
      items: revisions.map((r) => ({
        revision: r.revision,
        releaseDigest: r.releaseDigest,
        commit: r.commit,
        createdAt: new Date(r.createdAt).toISOString(),
        release: r.release,
      })),
    };
  });

  app.delete('/v1/deployments/:name', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const name = nameOf(request);
    const d = (await ctx.store.getDeployment(name)) ?? (await notFound(name));
    if (d.source !== null) {
      throw new EdgefleetError({
        code: 'conflict',
        status: 409,
        message: `deployment "${name}" is managed by GitOps source ${d.source}`,
        hint: 'remove its manifest from the repository; the source prunes it',
      });
    }
    await deleteDeployment(ctx, name, `token:${who.tokenId}`);
    return reply.status(204).send();
  });

  app.get('/v1/keys', async (request): Promise<{ items: TrustedKey[] }> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return { items: (await ctx.store.listReleaseKeys()).map(toTrustedKey) };
  });

  app.post('/v1/keys', async (request, reply): Promise<TrustedKey> => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    const body = parseWith(KeyBodySchema, request.body);
    const key = parsePublicKey(body.publicKey);
    const keyId = publicKeyId(key);
    const existing = await ctx.store.listReleaseKeys();
    if (existing.some((k) => k.keyId === keyId)) {
      return toTrustedKey(existing.find((k) => k.keyId === keyId)!);
    }
    const problem = endorsementProblem(key, body.signedBy, body.signature, trustedKeyMap(existing));
    if (problem !== undefined) {
      throw new EdgefleetError({
        code: 'forbidden',
        status: 403,
        message: problem,
        hint: 'endorse the new key with a trusted private key: edgefleet keys trust NEW.pub --endorse-with OLD.key',
        field: 'signature',
      });
    }
    const record = {
      keyId,
      publicKey: key.export({ format: 'pem', type: 'spki' }).toString(),
      signedBy: body.signedBy ?? null,
      signature: body.signature ?? null,
      createdAt: ctx.clock(),
    };
    await ctx.store.addReleaseKey(record);
    await ctx.store.appendAudit({
      at: record.createdAt,
      actor: `token:${who.tokenId}`,
      action: 'release-key.trust',
      target: keyId,
      details: { signedBy: record.signedBy },
    });
    ctx.events.emit('desired');
    void reply.status(201);
    return toTrustedKey(record);
  });
}
