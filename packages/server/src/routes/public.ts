import { EDGEFLEET_VERSION, type ServerInfo } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';

/** Routes anyone may call: the CA certificate (agents check it against their token's fingerprint) and health. */
export function publicRoutes(app: Api, ctx: ServerContext): void {
  app.get('/v1/ca', async (_req, reply) => {
    void reply.type('application/x-pem-file');
    return ctx.dataDir.ca.certPem;
  });
  app.get(
    '/v1/info',
    async (): Promise<ServerInfo> => ({
      version: EDGEFLEET_VERSION,
      caFingerprint: ctx.dataDir.caFingerprint,
      heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
    }),
  );
  app.get('/healthz', async () => ({ ok: true }));
}
