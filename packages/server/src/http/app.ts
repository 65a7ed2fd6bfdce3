import { constants } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { ServerContext } from '../context.js';
import { agentHandlers } from '../routes/agent.js';
import { artifactHandlers } from '../routes/artifacts.js';
import { deploymentHandlers } from '../routes/deployments.js';
import { enrollHandlers } from '../routes/enroll.js';
import { nodeHandlers } from '../routes/nodes.js';
import { publicHandlers } from '../routes/public.js';
import { rolloutHandlers } from '../routes/rollouts.js';
import { sourceHandlers } from '../routes/sources.js';
import { telemetryHandlers } from '../routes/telemetry.js';
import { tokenHandlers } from '../routes/tokens.js';
import { watchHandlers } from '../routes/watch.js';
import { webHandlers } from '../routes/web.js';
import { type AdmissionLimits, installAdmission } from './admission.js';
import { installErrorHandling } from './errors.js';
import { answerClientError, frameworkErrors } from './framework-errors.js';
import { registerRoutes } from './routes.js';

/** Largest request body we accept; bigger ones get a 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Builds the HTTPS API. Client certificates are requested but not required at the TLS
 * layer, because operators connect without one; node routes check them per request (auth.ts).
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
      // No renegotiation: a TLS 1.2 client could otherwise present another certificate in a
      // second handshake on a connection already verified (issue 14: it spoke as another
      // node). TLS 1.3 has none; operators' TLS 1.2 clients never need it.
      secureOptions: constants.SSL_OP_NO_RENEGOTIATION,
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
    // Errors from before any route (a bad percent-encoding, bytes the HTTP parser refused)
    // answer in the API's error shape too.
    frameworkErrors,
    clientErrorHandler: answerClientError,
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
  // Every route comes from the table (http/routes.ts); each handler map covers one resource.
  registerRoutes(
    app,
    {
      ...publicHandlers(ctx),
      ...enrollHandlers(ctx),
      ...agentHandlers(app, ctx),
      ...nodeHandlers(ctx),
      ...tokenHandlers(ctx),
      ...deploymentHandlers(ctx),
      ...rolloutHandlers(ctx),
      ...artifactHandlers(ctx),
      ...sourceHandlers(ctx),
      ...telemetryHandlers(ctx),
      ...watchHandlers(app, ctx),
      ...webHandlers(app),
    },
    { store: ctx.store, ca: ctx.dataDir.ca },
  );
  return app;
}
