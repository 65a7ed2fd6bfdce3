import Fastify, { LogController } from 'fastify';
import type { ServerContext } from '../context.js';
import { agentRoutes } from '../routes/agent.js';
import { artifactRoutes } from '../routes/artifacts.js';
import { deploymentRoutes } from '../routes/deployments.js';
import { enrollRoutes } from '../routes/enroll.js';
import { nodeRoutes } from '../routes/nodes.js';
import { publicRoutes } from '../routes/public.js';
import { rolloutRoutes } from '../routes/rollouts.js';
import { sourceRoutes } from '../routes/sources.js';
import { telemetryRoutes } from '../routes/telemetry.js';
import { tokenRoutes } from '../routes/tokens.js';
import { watchRoutes } from '../routes/watch.js';
import { webRoutes } from '../routes/web.js';
import { type AdmissionLimits, installAdmission } from './admission.js';
import { installErrorHandling } from './errors.js';

/** Largest request body we accept; bigger ones get a 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Builds the HTTPS API. Client certificates are requested but not required at the TLS
 * layer, because operators connect without one; agent routes check them per request.
 */
function createFastify(ctx: ServerContext) {
  return Fastify({
    https: {
      key: ctx.dataDir.serverKeyPem,
      cert: ctx.dataDir.serverCertPem,
      ca: [ctx.dataDir.ca.certPem],
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    loggerInstance: ctx.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Metered nodes upload every 15 minutes over one kept connection: a new TLS handshake
    // would cost more bytes than the upload itself.
    keepAliveTimeout: 20 * 60_000,
    // Agents send facts that may grow; keep the JSON parser strict about prototype poisoning.
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
  });
}

/** The Fastify instance type of our API (HTTPS server, pino logger). */
export type Api = ReturnType<typeof createFastify>;

/** Builds the HTTPS API with every route registered; `admission` bounds agent work (defaults if omitted). */
export function buildApp(ctx: ServerContext, admission?: AdmissionLimits): Api {
  const app = createFastify(ctx);
  installErrorHandling(app);
  installAdmission(app, admission, ctx.log);
  app.addHook('onResponse', async (request, reply) => {
    // One line per request, without headers or bodies: tokens and CSRs never reach the log.
    request.log.debug({ method: request.method, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  publicRoutes(app, ctx);
  enrollRoutes(app, ctx);
  agentRoutes(app, ctx);
  nodeRoutes(app, ctx);
  tokenRoutes(app, ctx);
  deploymentRoutes(app, ctx);
  rolloutRoutes(app, ctx);
  artifactRoutes(app, ctx);
  sourceRoutes(app, ctx);
  telemetryRoutes(app, ctx);
  watchRoutes(app, ctx);
  webRoutes(app);
  return app;
}
