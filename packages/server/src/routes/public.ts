import { EDGEFLEET_VERSION } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { RouteHandlers } from '../http/routes.js';
import { leaderMetricsText } from '../leader/metrics.js';
import { whoami } from '../tokens/whoami.js';

/** Routes anyone may call (the CA certificate, server info, health), `whoami` and the replica's `/metrics`. */
export function publicHandlers(ctx: ServerContext): Pick<RouteHandlers, 'ca' | 'serverInfo' | 'health' | 'healthHead' | 'whoami' | 'serverMetrics'> {
  return {
    ca: async () => ctx.dataDir.ca.certPem,
    serverInfo: async () => ({
      version: EDGEFLEET_VERSION,
      caFingerprint: ctx.dataDir.caFingerprint,
      heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
    }),
    health: async () => ({ ok: true }),
    healthHead: async () => ({ ok: true }),
    whoami: async ({ caller }) => whoami(caller),
    serverMetrics: async () => leaderMetricsText(ctx.leader, ctx.replicas?.()),
  };
}
