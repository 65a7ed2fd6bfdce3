/**
 * The server's routes come from one place: the route table in `@edgefleet/protocol`
 * (api/routes.ts). `registerRoutes` registers every route of the table with the handler of
 * the same name; the handlers' type is derived from the table, so the compiler demands a
 * handler for every route and refuses a name the table lacks. For each route it:
 * - authenticates from the table's caller kinds (auth.ts), in the route's own encapsulated
 *   plugin, before the body is read, and sets the typed `request.caller`;
 * - validates params, query and JSON body with the route's zod schemas (a 400 naming the
 *   field, errors.ts `parseWith`);
 * - serializes a JSON answer through the route's response schema: an answer that does not
 *   fit it is a 500 logged with the issue, never sent half-valid.
 * An `onRoute` guard, installed before any route, refuses at startup every route that does
 * not come from here, so a route outside the table cannot exist.
 */
import type { Readable } from 'node:stream';
import {
  type BodyOf,
  type CallerKind,
  callersOf,
  EdgefleetError,
  fieldPath,
  type ParamsOf,
  type QueryOf,
  type ReplyOf,
  type RouteName,
  type RouteSpec,
  type Routes,
  routeList,
  routerPath,
  routes,
} from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { type AdmissionControl, admissionClassOf, admissionUrgent } from './admission.js';
import { type Api, BODY_LIMIT_BYTES } from './app.js';
import { type AuthDeps, authenticationFor, type Caller, type NodeCaller, type PublicCaller, type TokenCaller } from './auth.js';
import type { ConnectionGuard } from './connections.js';
import { parseWith } from './errors.js';

/** The caller a route of these kinds gets. */
interface CallerByKind {
  public: PublicCaller;
  node: NodeCaller;
  viewer: TokenCaller;
  operator: TokenCaller;
  admin: TokenCaller;
}
type KindsOf<N extends RouteName> = Routes[N]['caller'] extends readonly (infer K)[] ? K : Routes[N]['caller'];
/** The caller of route `N`: a token caller, a node, or anyone, as the table says. */
export type CallerOf<N extends RouteName> = CallerByKind[KindsOf<N> & CallerKind];

/** What a handler gets: validated input, the authenticated caller, and the request and reply for headers and streams. */
export interface RouteCall<N extends RouteName> {
  params: ParamsOf<N>;
  query: QueryOf<N>;
  /** The parsed JSON body, or the raw body of a binary route (a `Buffer`, or a stream for large uploads). */
  body: BodyOf<N>;
  caller: CallerOf<N>;
  request: FastifyRequest;
  reply: FastifyReply;
}

type ResponseKind<N extends RouteName> = Routes[N]['response']['kind'];

/**
 * What a handler returns: a JSON route its answer (or the reply, after sending a 304 or an
 * error itself), an `empty` route nothing (204), a `text` route the text, and byte, event
 * stream and static routes the reply they sent on.
 */
export type RouteResult<N extends RouteName> = ResponseKind<N> extends 'json'
  ? ReplyOf<N> | FastifyReply
  : ResponseKind<N> extends 'empty'
    ? // biome-ignore lint/suspicious/noConfusingVoidType: an empty route's handler is an async function that returns nothing
      void
    : ResponseKind<N> extends 'text'
      ? string
      : FastifyReply | undefined;

/** The handler of route `N`. */
export type RouteHandler<N extends RouteName> = (call: RouteCall<N>) => Promise<RouteResult<N>>;

/** A handler, or a handler with plugins its route's scope needs (the dashboard's static files). */
export type RouteEntry<N extends RouteName> = RouteHandler<N> | { setup: (scope: Api) => Promise<void>; handle: RouteHandler<N> };

/** A handler for every route of the table, by name. */
export type RouteHandlers = { [N in RouteName]: RouteEntry<N> };

/**
 * What the registrar needs besides handlers: what authenticating callers needs, and the
 * server's admission control and connection guard (tests that register a few routes may
 * leave those out: their routes are then never refused and keep the server's clocks).
 */
export interface RegistrarDeps extends AuthDeps {
  admission?: AdmissionControl;
  connections?: ConnectionGuard;
}

/** Marks the routes the registrar made; the guard refuses any other. */
interface TableRouteConfig {
  tableRoute?: RouteName;
}

function internalError(): EdgefleetError {
  return new EdgefleetError({ code: 'internal', message: 'internal server error', hint: 'see the server log for details' });
}

/** Whether a route (as Fastify is about to add it) is `name`'s, or the HEAD Fastify adds for a static GET. */
function isTableRoute(method: string, url: string, name: RouteName | undefined): boolean {
  if (name === undefined || !Object.hasOwn(routes, name)) return false;
  const spec: RouteSpec = routes[name];
  if (url !== routerPath(spec)) return false;
  return method === spec.method || (method === 'HEAD' && spec.method === 'GET' && spec.response.kind === 'static');
}

/**
 * Installs the guard that makes a route outside the table impossible: any route not added
 * by the registrar, or whose method and path differ from its table entry, throws at
 * startup. Install it before any route.
 */
export function installRouteGuard(app: Api): void {
  app.addHook('onRoute', (options) => {
    const methods = Array.isArray(options.method) ? options.method : [options.method];
    const name = (options.config as TableRouteConfig | undefined)?.tableRoute;
    for (const method of methods) {
      if (!isTableRoute(method, options.url, name)) {
        throw new Error(
          `route ${method} ${options.url} is not in the route table: add it to packages/protocol/src/api/routes.ts and give registerRoutes a handler for it`,
        );
      }
    }
  });
}

/** The route's path params: its `*` wildcard under the param's own name, or Fastify's params. */
function rawParams(spec: RouteSpec, request: FastifyRequest): unknown {
  const params = request.params as Record<string, string | undefined>;
  if (spec.wildcard !== true) return params;
  const name = /:([A-Za-z]+)$/.exec(spec.path)?.[1] ?? '*';
  return { [name]: params['*'] };
}

/** Reads a binary body: a buffer of its content type (other types keep their parsers), or a stream for large uploads. */
function acceptBinaryBody(scope: Api, body: Extract<RouteSpec['body'], { kind: 'binary' }>): void {
  if (body.maxBytes <= BODY_LIMIT_BYTES) {
    // Fastify's body limit applies before any decompression; decoders limit what they inflate.
    scope.addContentTypeParser(body.contentType, { parseAs: 'buffer' }, (_request, raw, done) => done(null, raw));
    return;
  }
  // Large uploads are streams, and only of their own type: JSON parsing and its limit stay
  // untouched everywhere else.
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser(body.contentType, (request, payload, done) => {
    // Refuse before reading a byte when the declared length is too much; a body without
    // Content-Length is counted as it is stored.
    if (Number(request.headers['content-length'] ?? 0) > body.maxBytes) {
      done(
        new EdgefleetError({
          code: 'payload_too_large',
          message: `the body is larger than ${body.maxBytes / 1024 ** 3} GiB`,
          hint: 'ship a smaller model, or split it into several artifacts',
        }),
        undefined,
      );
    } else done(null, payload as Readable);
  });
  scope.addContentTypeParser('*', (request, _payload, done) => {
    done(
      new EdgefleetError({
        code: 'unsupported_media_type',
        message: `the body is sent as ${body.contentType}, not ${request.headers['content-type'] ?? 'without a content type'}`,
        hint: `send ${body.description} as the body with content-type ${body.contentType}`,
        field: 'content-type',
      }),
      undefined,
    );
  });
  // A refused upload may still be arriving: close the connection rather than drain it.
  scope.addHook('onError', async (request, reply) => {
    if (!request.raw.complete) void reply.header('connection', 'close');
  });
}

/** Checks a JSON answer against the route's response schema; a misfit is the server's bug: logged, 500. */
function serialize(name: RouteName, spec: RouteSpec, request: FastifyRequest, value: unknown): unknown {
  if (spec.response.kind !== 'json') return value;
  const parsed = spec.response.schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  request.log.error({ route: name, path: fieldPath(issue?.path ?? []), issue: issue?.message }, `the answer of ${name} does not fit its response schema`);
  throw internalError();
}

/** Whether a caller is of a kind the route allows (a token caller's role was checked by its hook). */
export function callerAllowed(kinds: readonly CallerKind[], caller: Caller): boolean {
  return caller.kind === 'token' ? kinds.some((k) => k !== 'node' && k !== 'public') : kinds.includes(caller.kind);
}

/** Registers one table route, in its own encapsulated plugin with its authentication hook. */
function registerRoute(app: Api, name: RouteName, entry: RouteEntry<RouteName>, deps: RegistrarDeps): void {
  const spec: RouteSpec = routes[name];
  const kinds = callersOf(spec);
  const authenticate = authenticationFor(deps, kinds);
  const streamedUpload = spec.body?.kind === 'binary' && spec.body.maxBytes > BODY_LIMIT_BYTES;
  // The table's types meet the handler here, where the route is one of many: the schemas below make the call what RouteCall<N> says.
  const handle = (typeof entry === 'function' ? entry : entry.handle) as unknown as (call: object) => Promise<unknown>;
  void app.register(async (plugin) => {
    // The plugin's instance is the app's type (Fastify types a child scope with defaults).
    const scope = plugin as unknown as Api;
    if (typeof entry !== 'function') await entry.setup(scope);
    scope.addHook('onRequest', async (request, reply) => {
      request.caller = null;
      await authenticate(request);
      // A node's connection gets its long clocks; an operator's streamed upload is bounded by progress, not a deadline.
      const caller = request.caller as Caller | null; // set by authenticate
      if (caller !== null) deps.connections?.callerAuthenticated(request, reply, caller.kind, streamedUpload);
    });
    // A slot is taken only once the body has arrived within its limit (admission.ts); the
    // door before it refuses a full class, and over-budget agent bodies, before a byte is read.
    const cls = admissionClassOf(name);
    if (cls !== undefined && deps.admission !== undefined) {
      const urgent = admissionUrgent(name);
      scope.addHook('onRequest', deps.admission.door(cls, spec.body?.kind === 'binary' ? spec.body.maxBytes : undefined, urgent));
      scope.addHook('preHandler', deps.admission.hook(cls, urgent));
    }
    if (spec.body?.kind === 'binary') acceptBinaryBody(scope, spec.body);
    scope.route({
      method: spec.method,
      url: routerPath(spec),
      // HEAD is a route of its own in the table where it exists; only the dashboard's pages get Fastify's.
      exposeHeadRoute: spec.response.kind === 'static',
      config: { tableRoute: name } satisfies TableRouteConfig,
      ...(spec.body?.kind === 'binary' ? { bodyLimit: spec.body.maxBytes } : {}),
      handler: async (request, reply) => {
        const caller: Caller | null = request.caller;
        // Fail closed: no caller, or one of a kind the table does not allow, never reaches the handler.
        if (caller === null || !callerAllowed(kinds, caller)) {
          request.log.error({ route: name, caller: caller?.kind ?? null }, `${name} ran without its authentication`);
          throw internalError();
        }
        const params = spec.params === undefined ? {} : parseWith(spec.params, rawParams(spec, request), 'path');
        const query = spec.query === undefined ? {} : parseWith(spec.query, request.query, 'query');
        const body = spec.body?.kind === 'json' ? parseWith(spec.body.schema, request.body) : request.body;
        void reply.status(spec.response.status);
        const result = await handle({ params, query, body, caller, request, reply });
        // A handler that returns `reply` hands back a thenable: awaiting it gives undefined once
        // the connection ends. A client that went away (a long poll it abandoned) gets nothing;
        // without this its poll was "an answer that does not fit the schema", logged as a bug.
        if (result === reply || reply.sent || reply.raw.destroyed) return reply;
        switch (spec.response.kind) {
          case 'empty':
            return reply.send();
          case 'text':
            return reply.type(spec.response.contentType).send(result);
          case 'json':
            return reply.send(serialize(name, spec, request, result));
          default:
            return reply;
        }
      },
    });
  });
}

/** Registers the table routes that have a handler in `handlers` (tests register a few). */
export function registerSomeRoutes(app: Api, handlers: Partial<RouteHandlers>, deps: RegistrarDeps): void {
  if (!app.hasRequestDecorator('caller')) app.decorateRequest('caller', null);
  for (const { name } of routeList()) {
    const entry = handlers[name];
    if (entry !== undefined) registerRoute(app, name, entry as RouteEntry<RouteName>, deps);
  }
}

/** Registers every route of the table with its handler, behind the guard that refuses any other route. */
export function registerRoutes(app: Api, handlers: RouteHandlers, deps: RegistrarDeps): void {
  installRouteGuard(app);
  registerSomeRoutes(app, handlers, deps);
}
