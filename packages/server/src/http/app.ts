import { constants } from 'node:crypto';
import Fastify, { LogController } from 'fastify';
import type { ServerContext } from '../context.js';
import { DesiredWatch } from '../deployments/desired-watch.js';
import { signedByCa } from '../pki/ca.js';
import { agentHandlers } from '../routes/agent.js';
import { artifactHandlers } from '../routes/artifacts.js';
import { deploymentHandlers } from '../routes/deployments.js';
import { enrollHandlers } from '../routes/enroll.js';
import { nodeHandlers } from '../routes/nodes.js';
import { publicHandlers } from '../routes/public.js';
import { registryHandlers } from '../routes/registries.js';
import { rolloutHandlers } from '../routes/rollouts.js';
import { sourceHandlers } from '../routes/sources.js';
import { telemetryHandlers } from '../routes/telemetry.js';
import { tokenHandlers } from '../routes/tokens.js';
import { watchHandlers } from '../routes/watch.js';
import { webHandlers } from '../routes/web.js';
import { recordRefusedNode } from '../telemetry/status-report.js';
import { type AdmissionLimits, admissionControl } from './admission.js';
import { ConnectionGuard, type ConnectionLimits, connectionSettings, serverTimeoutOptions } from './connections.js';
import { installErrorHandling } from './errors.js';
import { answerClientError, frameworkErrors } from './framework-errors.js';
import { registerRoutes } from './routes.js';
import { rotateSessionTicketKeys, SESSION_ID_CONTEXT } from './session-tickets.js';

/**
 * Headers on every response, API and dashboard alike (helmet sets more, in the dashboard's
 * scope only): browsers keep to HTTPS for a year, and never guess a content type (a log
 * line or a node-reported string served as JSON is never run as a script or page).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
});

/** Largest request body we accept; bigger ones get a 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Builds the HTTPS API. Client certificates are requested but not required at the TLS
 * layer, because operators connect without one; node routes check them per request (auth.ts).
 * `connections`: the timeouts and the per-address cap every connection lives under.
 */
function createFastify(ctx: ServerContext, connections: ConnectionGuard = new ConnectionGuard(connectionSettings())) {
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
      // Sessions resume on every replica of the fleet (session-tickets.ts; the keys are set
      // by buildApp and follow the window).
      sessionIdContext: SESSION_ID_CONTEXT,
      // The header clock (Node's own); body and idle clocks: connections.ts.
      ...serverTimeoutOptions(connections.settings),
    },
    loggerInstance: ctx.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    // Short for everyone; an authenticated node's connection is kept far longer (a metered
    // node uploads every 15 minutes over one connection: a new TLS handshake would cost more
    // bytes than the upload itself), see connections.ts.
    keepAliveTimeout: connections.settings.keepAliveTimeoutMs,
    connectionTimeout: connections.settings.idleTimeoutMs,
    requestTimeout: 0,
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

/** Bounds a server puts on its connections and requests, options of `startServer`. */
export interface ApiLimits {
  /** Requests in flight per class of agent work (admission.ts). */
  admission?: AdmissionLimits | undefined;
  /** Header, body and idle timeouts; unauthenticated connections per address (connections.ts). */
  connections?: ConnectionLimits | undefined;
}

/** Builds the HTTPS API with every route registered; `limits` bound agent work and connections (defaults if omitted). */
export function buildApp(ctx: ServerContext, limits: ApiLimits = {}): Api {
  const connections = new ConnectionGuard(connectionSettings(limits.connections), ctx.log, (socket) => {
    const peer = socket.authorized ? socket.getPeerX509Certificate() : undefined;
    return peer !== undefined && signedByCa(ctx.dataDir.ca, peer);
  });
  const app = createFastify(ctx, connections);
  connections.attach(app.server);
  const stopTicketKeys = rotateSessionTicketKeys(app.server, ctx.dataDir.ca.keyPem, ctx.clock);
  app.addHook('onClose', async () => stopTicketKeys());
  installErrorHandling(app);
  // First of all hooks, for every request (unknown routes too): the body clock.
  app.addHook('onRequest', connections.startBodyClock);
  // On the raw response, so hijacked replies (the watch stream's own writeHead) carry them too.
  app.addHook('onRequest', async (_request, reply) => {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) reply.raw.setHeader(name, value);
  });
  // A closing server lets each connection go after its current answer. Node closes only the
  // connections idle when close() is called; a node's connection is kept minutes between
  // requests (connections.ts), so one that went idle later held close() until its agent let
  // go, and the agent kept asking this replica instead of moving to another (issue 18).
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) void reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    // One line per request, without headers or bodies: tokens and CSRs never reach the log.
    request.log.debug({ method: request.method, url: request.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request');
  });
  // The process's one watch of desired state: long polls wait on it; artifact downloads and
  // uploads that fold heartbeats read a node's desired state from its shared inputs.
  const desired = new DesiredWatch(ctx, ctx.desiredCheckIntervalMs);
  desired.start();
  // Every route comes from the table (http/routes.ts); each handler map covers one resource.
  registerRoutes(
    app,
    {
      ...publicHandlers(ctx),
      ...enrollHandlers(ctx),
      ...agentHandlers(app, ctx, desired),
      ...nodeHandlers(ctx),
      ...tokenHandlers(ctx),
      ...deploymentHandlers(ctx),
      ...rolloutHandlers(ctx),
      ...artifactHandlers(ctx, desired),
      ...sourceHandlers(ctx),
      ...registryHandlers(ctx),
      ...telemetryHandlers(ctx, desired),
      ...watchHandlers(app, ctx),
      ...webHandlers(app),
    },
    {
      store: ctx.store,
      ca: ctx.dataDir.ca,
      clock: ctx.clock,
      admission: admissionControl(limits.admission, ctx.log, (request) => {
        const caller = request.caller;
        if (caller?.kind === 'node') recordRefusedNode(ctx, caller.node.id);
      }),
      connections,
    },
  );
  return app;
}
