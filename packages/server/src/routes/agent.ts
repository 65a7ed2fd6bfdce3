import {
  type DesiredState,
  RenewRequestSchema,
  type RenewResponse,
  type StatusRequest,
  StatusRequestSchema,
  type StatusResponse,
  type WorkloadStatus,
} from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { desiredStateFor } from '../deployments/desired.js';
import { labelsKeyOf } from '../deployments/desired-inputs.js';
import { DesiredWatch } from '../deployments/desired-watch.js';
import { toTrustedKey } from '../deployments/keys.js';
import { loadTargets } from '../deployments/targets.js';
import type { Api } from '../http/app.js';
import { authenticateNode } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { effectiveLabels } from '../nodes/view.js';
import { issueNodeCertificate, verifyCsr } from '../pki/ca.js';
import type { NodeRecord } from '../store/index.js';
import { telemetrySettingsFor } from '../telemetry/settings.js';

/**
 * Records a heartbeat: labels, facts (kept when omitted), workload statuses and the stats
 * the rollout gates read. Metered nodes send the same body folded into their uploads.
 */
export async function recordStatus(ctx: ServerContext, node: NodeRecord, body: StatusRequest): Promise<void> {
  const now = ctx.clock();
  // Facts and labels rarely change: rewriting kilobytes of the same JSON with every heartbeat
  // would only grow the database's log. `node` was read from the store for this request.
  const labelsChanged = body.labels !== undefined && JSON.stringify(body.labels) !== JSON.stringify(node.detectedLabels);
  const factsChanged = body.facts !== undefined && JSON.stringify(body.facts) !== JSON.stringify(node.facts);
  await ctx.store.recordHeartbeat(node.id, labelsChanged ? body.labels : undefined, factsChanged ? body.facts : undefined, now);
  // Most reports repeat the last one: rewriting the same rows would cost a transaction (an
  // fsync on SQLite) per heartbeat for nothing, so compare with the store first, a cheap read.
  if (body.workloads !== undefined && !(await workloadsUnchanged(ctx, node.id, body.workloads)))
    await ctx.store.replaceNodeWorkloads(node.id, body.workloads, now);
  if (body.stats !== undefined && body.stats.length > 0) {
    // Node clocks drift: re-anchor the intervals so the newest ends now, on the server's clock,
    // which is the clock rollout gate windows use.
    const shift = now - Math.max(...body.stats.map((x) => x.intervalEnd));
    await ctx.store.insertWorkloadStats(
      node.id,
      body.stats.map((x) => ({ ...x, intervalStart: Math.max(0, x.intervalStart + shift), intervalEnd: x.intervalEnd + shift })),
    );
  }
  // Detected labels may have changed (an accelerator died), and with them the desired state.
  // Omitted labels are unchanged labels (metered nodes send them only on change).
  if (labelsChanged) ctx.events.emit('desired');
}

/** True when the store already holds exactly these workload statuses for the node. */
async function workloadsUnchanged(ctx: ServerContext, nodeId: string, workloads: WorkloadStatus[]): Promise<boolean> {
  const stored = await ctx.store.listNodeWorkloads({ nodeId });
  if (stored.length !== workloads.length) return false;
  const byDeployment = new Map(stored.map((w) => [w.status.deployment, JSON.stringify(w.status)]));
  return workloads.every((w) => byDeployment.get(w.deployment) === JSON.stringify(w));
}

/**
 * The node's desired state, computed afresh from the store: labels, deployments, keys (for
 * metered uploads; long polls share the watch's cached inputs instead).
 */
export async function desiredStateOfNode(ctx: ServerContext, nodeId: string): Promise<DesiredState | undefined> {
  const node = await ctx.store.getNode(nodeId);
  if (node === undefined) return undefined;
  const keys = (await ctx.store.listReleaseKeys()).map(toTrustedKey);
  return desiredStateFor(node.id, effectiveLabels(node), await loadTargets(ctx), keys, ctx.requireSigned);
}

/** Agent routes, all behind mTLS: heartbeats, desired state and certificate renewal. */
export function agentRoutes(app: Api, ctx: ServerContext): void {
  // When each request's node was read: a desired-state poll subscribes to changes after it.
  const nodeReadAt = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/agent/')) return;
    nodeReadAt.set(request, performance.now());
    await authenticateNode(ctx.store, request);
  });

  app.post('/v1/agent/status', async (request): Promise<StatusResponse> => {
    const node = request.agentNode!;
    const body = parseWith(StatusRequestSchema, request.body);
    await recordStatus(ctx, node, body);
    const labels = effectiveLabels({ ...node, detectedLabels: body.labels ?? node.detectedLabels });
    return {
      nodeId: node.id,
      heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
      certificateNotAfter: new Date(node.certNotAfter).toISOString(),
      telemetry: telemetrySettingsFor(labels, ctx.heartbeatIntervalMs),
    };
  });

  const DesiredQuery = z.object({ since: z.string().max(64).optional(), wait: z.coerce.number().min(0).max(300).default(0) });

  // Long polls wait on the process's one watch of desired state (deployments/desired-watch.ts),
  // which notices in-process changes at once and other replicas' within 2 s.
  const watch = new DesiredWatch(ctx);
  watch.start();
  // On shutdown, end long polls at once instead of holding the close for their full wait.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    await watch.stop();
  });

  app.get('/v1/agent/desired', async (request, reply) => {
    let node = request.agentNode!;
    const query = parseWith(DesiredQuery, request.query, 'query');
    const deadline = Date.now() + query.wait * 1000;
    const subscription = watch.subscribe(node.id, nodeReadAt.get(request) ?? Number.NEGATIVE_INFINITY);
    // The response closes before it is sent only when the agent went away.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    reply.raw.on('close', onClose);
    try {
      let labels = effectiveLabels(node);
      let labelsKey = labelsKeyOf(labels);
      for (;;) {
        if (subscription.takeNodeChange()) {
          const fresh = await ctx.store.getNode(node.id);
          if (fresh === undefined)
            return reply.status(403).send({ error: { code: 'certificate_revoked', message: 'the node no longer exists', hint: 'enroll it again' } });
          node = fresh;
          labels = effectiveLabels(node);
          labelsKey = labelsKeyOf(labels);
        }
        const desired = (await watch.current()).desiredFor(node.id, labels, labelsKey);
        if (desired.version !== query.since || Date.now() >= deadline) {
          if (desired.version === query.since) return reply.status(304).send();
          return desired;
        }
        await subscription.wait(deadline, gone.signal);
        if (gone.signal.aborted) return reply;
        if (closing)
          return reply.status(503).send({ error: { code: 'unavailable', message: 'the server is shutting down', hint: 'the agent retries by itself' } });
      }
    } finally {
      subscription.close();
      reply.raw.off('close', onClose);
    }
  });

  app.post('/v1/agent/renew', async (request): Promise<RenewResponse> => {
    const node = request.agentNode!;
    const body = parseWith(RenewRequestSchema, request.body);
    const publicKey = await verifyCsr(body.csr);
    const now = ctx.clock();
    const cert = await issueNodeCertificate(ctx.dataDir.ca, node.id, publicKey, new Date(now), ctx.nodeCertLifetimeMs);
    await ctx.store.recordCertificate({ serial: cert.serial, nodeId: node.id, issuedAt: now, notAfter: cert.notAfter.getTime(), revokedAt: null });
    await ctx.store.appendAudit({
      at: now,
      actor: `node:${node.id}`,
      action: 'node.renew',
      target: node.id,
      details: { certSerial: cert.serial, previous: request.agentCertSerial },
    });
    request.log.info({ nodeId: node.id, serial: cert.serial }, 'certificate renewed');
    return { certificate: cert.pem, notAfter: cert.notAfter.toISOString() };
  });
}
