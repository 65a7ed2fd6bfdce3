import { RenewRequestSchema, type RenewResponse, StatusRequestSchema, type StatusResponse } from '@edgefleet/protocol';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ServerContext } from '../context.js';
import { DesiredWatch } from '../deployments/desired-watch.js';
import { pollDesiredState } from '../deployments/node-desired.js';
import type { Api } from '../http/app.js';
import { authenticateNode } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import { renewNodeCertificate } from '../nodes/service.js';
import { reportStatus } from '../telemetry/status-report.js';

const DesiredQuery = z.object({ since: z.string().max(64).optional(), wait: z.coerce.number().min(0).max(300).default(0) });

/** Agent routes, all behind mTLS: heartbeats, desired state and certificate renewal. */
export function agentRoutes(app: Api, ctx: ServerContext): void {
  // When each request's node was read: a desired-state poll subscribes to changes after it.
  const nodeReadAt = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (request) => {
    if (!request.url.startsWith('/v1/agent/')) return;
    nodeReadAt.set(request, performance.now());
    await authenticateNode(ctx.store, request);
  });

  app.post('/v1/agent/status', async (request): Promise<StatusResponse> => reportStatus(ctx, request.agentNode!, parseWith(StatusRequestSchema, request.body)));

  // Long polls wait on the process's one watch of desired state (deployments/desired-watch.ts).
  const watch = new DesiredWatch(ctx);
  watch.start();
  // On shutdown, end long polls at once instead of holding the close for their full wait.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    await watch.stop();
  });

  app.get('/v1/agent/desired', async (request, reply) => {
    const query = parseWith(DesiredQuery, request.query, 'query');
    // The response closes before it is sent only when the agent went away.
    const gone = new AbortController();
    const onClose = (): void => gone.abort();
    reply.raw.on('close', onClose);
    try {
      const outcome = await pollDesiredState(watch, ctx, {
        node: request.agentNode!,
        since: query.since,
        waitSeconds: query.wait,
        readAt: nodeReadAt.get(request) ?? Number.NEGATIVE_INFINITY,
        signal: gone.signal,
        closing: () => closing,
      });
      switch (outcome.kind) {
        case 'changed':
          return outcome.desired;
        case 'unchanged':
          return reply.status(304).send();
        case 'aborted':
          return reply;
        case 'node-gone':
          return reply.status(403).send({ error: { code: 'certificate_revoked', message: 'the node no longer exists', hint: 'enroll it again' } });
        case 'closing':
          return reply.status(503).send({ error: { code: 'unavailable', message: 'the server is shutting down', hint: 'the agent retries by itself' } });
      }
    } finally {
      reply.raw.off('close', onClose);
    }
  });

  app.post(
    '/v1/agent/renew',
    async (request): Promise<RenewResponse> =>
      renewNodeCertificate(ctx, request.agentNode!, request.agentCertSerial, parseWith(RenewRequestSchema, request.body), request.log),
  );
}
