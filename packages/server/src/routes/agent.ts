import { RenewRequestSchema, type RenewResponse, StatusRequestSchema, type StatusResponse } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateNode } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { issueNodeCertificate, verifyCsr } from '../pki/ca.js';

/** Agent routes, all behind mTLS: heartbeats and certificate renewal. */
export function agentRoutes(app: Api, ctx: ServerContext): void {
  app.addHook('onRequest', async (request) => {
    if (request.url.startsWith('/v1/agent/')) await authenticateNode(ctx.store, request);
  });

  app.post('/v1/agent/status', async (request): Promise<StatusResponse> => {
    const node = request.agentNode!;
    const body = parseWith(StatusRequestSchema, request.body);
    await ctx.store.recordHeartbeat(node.id, body.labels, body.facts, ctx.clock());
    return { nodeId: node.id, heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000, certificateNotAfter: new Date(node.certNotAfter).toISOString() };
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
