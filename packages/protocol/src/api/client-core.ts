/**
 * The API client generated from the route table: `request(name, { params, query, body })`
 * builds the path from the route's params, encodes the query, sends through a `Transport`
 * (undici in Node, `fetch` in the browser), turns an error answer into the server's own
 * `EdgefleetError` and validates a JSON answer with the route's response schema. It does
 * no I/O of its own, so it runs anywhere and is tested with a fake transport.
 */
import type { z } from 'zod';
import { EdgefleetError, isErrorBody, isErrorCode } from '../errors.js';
import { type BodySpec, type ResponseSpec, type RouteName, type RouteSpec, type Routes, routes } from './routes.js';

/** One request as the transport sends it. */
export interface TransportRequest {
  method: string;
  /** Path and query: `/v1/nodes?selector=a%3Db`. */
  path: string;
  headers: Record<string, string>;
  /** JSON text, bytes, or a stream the transport understands (a Node `Readable`). */
  body?: string | Uint8Array | unknown;
  /** How long to wait for the answer's headers (0: no limit); the transport's default when absent. */
  headersTimeoutMs?: number;
  /** How long the body may stall between chunks (0: no limit); the transport's default when absent. */
  bodyTimeoutMs?: number;
  signal?: AbortSignal;
}

/** An answer as the transport got it; the body is read once, by one of the three. */
export interface TransportResponse<Stream = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The whole body as text. */
  text(): Promise<string>;
  /** Reads and drops the body (so the connection can be reused). */
  discard(): Promise<void>;
  /** The body as a stream, for byte and event-stream answers. */
  stream(): Stream;
}

/** Sends requests: the only part of the client that does I/O. Throws on a failed connection. */
export interface Transport<Stream = unknown> {
  send(request: TransportRequest): Promise<TransportResponse<Stream>>;
}

/**
 * A link as the simulator models it: before each request it may wait (latency, bandwidth)
 * or throw (the node or its site is offline, a packet lost). Real agents have none.
 */
export interface NetworkConditions {
  beforeRequest(request: { method: string; path: string; bodyBytes: number }): Promise<void>;
}

/** A raw answer: status, headers and the body as a stream (byte and event-stream routes). */
export interface RawResponse<Stream = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Stream;
}

/** A binary body: bytes, or a stream with its size when known. */
export type BinaryBody<Stream = unknown> = Uint8Array | { stream: Stream; size?: number };

/** The output shape of a schema-less slot. */
type Out<S> = S extends z.ZodType ? z.output<S> : never;

/** What `request` takes for a route: its params, query and body, typed from the table. */
export type RouteInput<N extends RouteName, Stream = unknown> = (Routes[N] extends { params: infer P extends z.ZodType }
  ? { params: Out<P> }
  : { params?: undefined }) &
  (Routes[N] extends { query: infer Q extends z.ZodType } ? { query?: { [K in keyof Out<Q>]?: Out<Q>[K] } } : { query?: undefined }) &
  (Routes[N] extends { body: { kind: 'json'; schema: infer B extends z.ZodType } }
    ? { body: z.input<B> }
    : Routes[N] extends { body: { kind: 'binary' } }
      ? { body: BinaryBody<Stream> }
      : { body?: undefined });

/** What `request` answers for a route, typed from the table. */
export type RouteOutput<N extends RouteName, Stream = unknown> = Routes[N]['response'] extends {
  kind: 'json';
  schema: infer S extends z.ZodType;
  notModified: true;
}
  ? z.output<S> | undefined
  : Routes[N]['response'] extends { kind: 'json'; schema: infer S extends z.ZodType; noContent: true }
    ? z.output<S> | undefined
    : Routes[N]['response'] extends { kind: 'json'; schema: infer S extends z.ZodType }
      ? z.output<S>
      : Routes[N]['response'] extends { kind: 'empty' }
        ? undefined
        : Routes[N]['response'] extends { kind: 'text' }
          ? string
          : RawResponse<Stream>;

/** Per-call options beyond the route's input. */
export interface RequestOptions {
  signal?: AbortSignal;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  /** Extra request headers (`range`, `if-none-match`). */
  headers?: Record<string, string>;
}

/** How the client reaches a server. */
export interface ApiClientOptions<Stream = unknown> {
  transport: Transport<Stream>;
  /** Base URL without a trailing slash (empty in the browser: same origin), for messages. */
  server?: string;
  /** Operator API token, sent as `Authorization: Bearer`. */
  token?: string;
  /** Simulated link conditions (the simulator): consulted before every request. */
  network?: NetworkConditions;
}

/** A JSON body's size as the link model counts it (headers and all: a typical small request). */
const JSON_BODY_BYTES = 256;

/** The typed client over the route table. */
export class ApiClient<Stream = unknown> {
  readonly server: string;
  private readonly transport: Transport<Stream>;
  private readonly token: string | undefined;
  private readonly network: NetworkConditions | undefined;

  constructor(opts: ApiClientOptions<Stream>) {
    this.transport = opts.transport;
    this.server = opts.server ?? '';
    this.token = opts.token;
    this.network = opts.network;
  }

  /** Calls route `name` and answers its validated response (see {@link RouteOutput}). */
  async request<N extends RouteName>(name: N, input: RouteInput<N, Stream>, opts: RequestOptions = {}): Promise<RouteOutput<N, Stream>> {
    const route: RouteSpec = routes[name];
    const { params, query, body } = input as { params?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
    const path = buildPath(route.path, params) + encodeQuery(query);
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (route.response.kind === 'json' || route.response.kind === 'empty') headers.accept = 'application/json';
    if (route.response.kind === 'sse') headers.accept = 'text/event-stream';
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    const { payload, bodyBytes } = encodeBody(route.body, body, headers);
    const request: TransportRequest = {
      method: route.method,
      path,
      headers,
      ...(payload === undefined ? {} : { body: payload }),
      ...(opts.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: opts.headersTimeoutMs }),
      ...(opts.bodyTimeoutMs === undefined ? {} : { bodyTimeoutMs: opts.bodyTimeoutMs }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    };
    let res: TransportResponse<Stream>;
    try {
      await this.network?.beforeRequest({ method: route.method, path, bodyBytes });
      res = await this.transport.send(request);
    } catch (err) {
      throw connectionError(this.server, err);
    }
    return (await readResponse(route.response, res, `${route.method} ${path}`)) as RouteOutput<N, Stream>;
  }

  /**
   * Sends a request outside the route table and answers its parsed JSON, unvalidated
   * (undefined for no body). Only for what the contract does not allow: tests of the
   * server's own validation (a malformed body, an unknown route).
   */
  async unchecked(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: TransportResponse<Stream>;
    try {
      await this.network?.beforeRequest({ method, path, bodyBytes: body === undefined ? 0 : JSON_BODY_BYTES });
      res = await this.transport.send({ method, path, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (err) {
      throw connectionError(this.server, err);
    }
    if (res.status >= 400) throw await errorFromResponse(res, `${method} ${path}`);
    const text = await res.text();
    try {
      return text.length === 0 ? undefined : JSON.parse(text);
    } catch {
      return undefined;
    }
  }
}

/** Fills `:name` segments from `params`, each URI-encoded (a `:` stays readable: `sha256:…`). */
export function buildPath(template: string, params: Record<string, unknown> | undefined): string {
  return template.replace(/:([A-Za-z]+)/g, (_m, key: string) => {
    const value = params?.[key];
    if (value === undefined || value === null || String(value) === '') {
      throw new EdgefleetError({ code: 'bad_request', message: `${template} needs the path parameter "${key}"`, hint: `pass params.${key}`, field: key });
    }
    return encodeURIComponent(String(value)).replace(/%3A/gi, ':');
  });
}

/** `?a=1&b=x` from the defined entries of `query`; empty when none. */
export function encodeQuery(query: Record<string, unknown> | undefined): string {
  if (query === undefined) return '';
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const text = q.toString();
  return text === '' ? '' : `?${text}`;
}

function encodeBody(spec: BodySpec | undefined, body: unknown, headers: Record<string, string>): { payload: unknown; bodyBytes: number } {
  if (spec === undefined || body === undefined) return { payload: undefined, bodyBytes: 0 };
  if (spec.kind === 'json') {
    headers['content-type'] = 'application/json';
    return { payload: JSON.stringify(body), bodyBytes: JSON_BODY_BYTES };
  }
  headers['content-type'] = spec.contentType;
  if (body instanceof Uint8Array) return { payload: body, bodyBytes: body.byteLength };
  const { stream, size } = body as { stream: unknown; size?: number };
  if (size !== undefined) headers['content-length'] = String(size);
  return { payload: stream, bodyBytes: size ?? 0 };
}

/** Turns an answer into the route's output, or its error into an `EdgefleetError`. */
async function readResponse<Stream>(spec: ResponseSpec, res: TransportResponse<Stream>, what: string): Promise<unknown> {
  if (res.status >= 400) throw await errorFromResponse(res, what);
  switch (spec.kind) {
    case 'json': {
      if ((res.status === 304 && spec.notModified === true) || (res.status === 204 && spec.noContent === true)) {
        await res.discard();
        return undefined;
      }
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw unexpected(what, `the body is not JSON (HTTP ${res.status})`, res.status);
      }
      const parsed = spec.schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const at = issue === undefined || issue.path.length === 0 ? '' : `${issue.path.map(String).join('.')}: `;
        throw unexpected(what, `${at}${issue?.message ?? 'invalid body'}`, 502);
      }
      return parsed.data;
    }
    case 'empty':
      await res.discard();
      return undefined;
    case 'text':
      return res.text();
    default:
      return { status: res.status, headers: res.headers, body: res.stream() } satisfies RawResponse<Stream>;
  }
}

function unexpected(what: string, detail: string, status: number): EdgefleetError {
  return new EdgefleetError({
    code: 'unexpected_response',
    status,
    message: `unexpected response from ${what}: ${detail}`,
    hint: 'the server and this client may be different versions; upgrade the older one',
  });
}

/** The server's `{"error":…}` answer as an `EdgefleetError` (with `Retry-After` when given). */
export async function errorFromResponse(res: TransportResponse<unknown>, what: string): Promise<EdgefleetError> {
  let json: unknown;
  try {
    const text = await res.text();
    json = text.length > 0 ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  const retryAfterMs = retryAfter(res.headers['retry-after']);
  const extra = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (isErrorBody(json)) {
    const e = json.error;
    const code = e.code;
    const known = isErrorCode(code);
    return new EdgefleetError({
      code: known ? code : 'unexpected_response',
      status: res.status,
      message: known ? e.message : `${e.message} (error code "${e.code}", unknown to this client)`,
      hint: e.hint ?? '',
      ...(e.field === undefined ? {} : { field: e.field }),
      ...extra,
    });
  }
  return new EdgefleetError({
    code: 'unexpected_response',
    status: res.status,
    message: `${what} failed with HTTP ${res.status}`,
    hint: 'check that --server points at an edgefleet server',
    ...extra,
  });
}

/** `Retry-After` in seconds (or an HTTP date) → ms; undefined when absent or unreadable. */
export function retryAfter(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** A failed connection as the fleet's error: TLS trouble says how to trust the server. */
export function connectionError(server: string, err: unknown): EdgefleetError {
  if (err instanceof EdgefleetError) return err;
  const cause = (err ?? {}) as { code?: string; message?: string };
  const code = cause.code ?? '';
  const tls = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|HOSTNAME|ALTNAME/.test(code) || /certificate/i.test(cause.message ?? '');
  const where = server === '' ? 'the server' : server;
  return new EdgefleetError({
    code: tls ? 'server_untrusted' : 'unreachable',
    message: tls ? `the TLS connection to ${where} failed: ${cause.message ?? code}` : `cannot reach ${where}: ${cause.message ?? code}`,
    hint: tls
      ? 'give the fleet CA certificate with --ca or EDGEFLEET_CA (the server prints its path at start), or check the URL'
      : 'check that the server is running and that --server or EDGEFLEET_SERVER is right',
    cause: err,
  });
}

/**
 * One or several server URLs (replicas of one control plane), each normalised as
 * {@link normaliseServerUrl}, repeats dropped, in the order given. None is a clear error.
 */
export function normaliseServerUrls(servers: string | readonly string[]): string[] {
  const list = typeof servers === 'string' ? [servers] : servers;
  if (list.length === 0) {
    throw new EdgefleetError({ code: 'config', message: 'no server URL given', hint: 'give at least one server as https://HOST:PORT' });
  }
  return [...new Set(list.map(normaliseServerUrl))];
}

/** Accepts `host:port` or a full URL and returns `https://host:port` without a trailing slash. */
export function normaliseServerUrl(server: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(server) ? server : `https://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new EdgefleetError({ code: 'config', message: `invalid server URL "${server}"`, hint: 'write it as https://HOST:PORT' });
  }
  if (url.protocol !== 'https:') {
    throw new EdgefleetError({
      code: 'config',
      message: `server URL "${server}" is not https`,
      hint: 'edgefleet servers speak HTTPS only: write https://HOST:PORT',
    });
  }
  return url.origin;
}
