import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import type { z } from 'zod';
import { connectionReleased, resumingConnector, tlsOptions } from './client-connection.js';
import { type DesiredState, DesiredStateSchema, type TrustedKey } from './desired.js';
import { EdgefleetError, isErrorBody } from './errors.js';
import { certificateFingerprint } from './fingerprint.js';
import {
  type AlertList,
  AlertListSchema,
  type LogList,
  LogListSchema,
  type NodeTelemetry,
  NodeTelemetrySchema,
  type TelemetryUploadResponse,
  TelemetryUploadResponseSchema,
} from './telemetry/api.js';
import { LOG_CONTENT_TYPE, TELEMETRY_CONTENT_TYPE } from './telemetry/types.js';
import {
  type ApiTokenCreate,
  type ApiTokenCreated,
  ApiTokenCreatedSchema,
  type ApiTokenInfo,
  ApiTokenListSchema,
  type ArtifactInfo,
  ArtifactInfoSchema,
  ArtifactListSchema,
  type BootstrapTokenCreate,
  type BootstrapTokenCreated,
  BootstrapTokenCreatedSchema,
  type BootstrapTokenInfo,
  BootstrapTokenListSchema,
  type EnrollRequest,
  type EnrollResponse,
  EnrollResponseSchema,
  type Node,
  type NodeLabelPatch,
  type NodeList,
  NodeListSchema,
  NodeSchema,
  type RenewResponse,
  RenewResponseSchema,
  type ServerInfo,
  ServerInfoSchema,
  type StatusRequest,
  type StatusResponse,
  StatusResponseSchema,
} from './wire.js';

/** A deployment as the API shows it: manifest plus status (see docs/API.md). */
export interface DeploymentView {
  apiVersion: string;
  kind: string;
  metadata: { name: string; generation: number; source: string | null; createdAt: string; updatedAt: string };
  spec: Record<string, unknown>;
  status: {
    revision: number;
    generation: number;
    observedGeneration: number;
    conditions: Array<{ type: string; status: string; reason: string; message: string }>;
    nodes: Array<{
      node: string;
      nodeId: string;
      revision: number | null;
      state: string;
      reason: string | null;
      endpoint: string | null;
      message: string | null;
    }>;
  };
}

/** A GitOps source as the API shows it (see docs/API.md). */
export interface SourceView {
  name: string;
  url: string;
  branch: string;
  path: string;
  /** Polling interval as a duration, `30s`. */
  interval: string;
  lastAppliedRevision: string | null;
  lastAttemptedRevision: string | null;
  conditions: Array<{ type: 'Ready' | 'Stalled' | 'Reconciling'; status: 'True' | 'False' | 'Unknown'; reason: string; message: string }>;
  lastSyncAt: string | null;
}

/** How to reach and authenticate to a server. */
export interface ClientOptions {
  /** Base URL, `https://host:port`. */
  server: string;
  /** Operator API token, sent as `Authorization: Bearer`. */
  token?: string;
  /** PEM of the fleet CA to trust; without it the system roots are used. */
  ca?: string;
  /** PEM client certificate and key (agents, for mTLS). */
  cert?: string;
  key?: string;
  /** Per-request timeout; default 30 s. */
  timeoutMs?: number;
  /**
   * How long an idle connection stays open (default 5 s). Metered nodes keep theirs for
   * their upload interval: a TLS handshake costs more bytes than a whole upload.
   */
  keepAliveTimeoutMs?: number;
  /**
   * TCP keep-alive probes on idle connections (default on, undici's 60 s). Metered nodes
   * turn them off: a probe and its ACK every minute would cost more than their uploads.
   */
  tcpKeepAlive?: boolean;
  /** Simulated link conditions (the simulator): consulted before every request. */
  network?: NetworkConditions;
}

/**
 * A link as the simulator models it: before each request it may wait (latency, bandwidth)
 * or throw (the node or its site is offline, a packet lost). Real agents have none.
 */
export interface NetworkConditions {
  beforeRequest(request: { method: string; path: string; bodyBytes: number }): Promise<void>;
}

/**
 * The typed API client. The CLI, the agent and the tests all talk to the server through
 * it, so a request has one shape everywhere and an API error comes back as the server's
 * own `EdgefleetError` (code, message, hint).
 */
export class EdgefleetClient {
  readonly server: string;
  private readonly dispatcher: Agent;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly network: NetworkConditions | undefined;

  constructor(opts: ClientOptions) {
    this.network = opts.network;
    this.server = normaliseServerUrl(opts.server);
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.dispatcher = new Agent({
      connect: resumingConnector({
        ...tlsOptions(opts),
        ...(opts.tcpKeepAlive === false ? { keepAlive: false } : {}),
      }),
      // Agents hold one connection open between heartbeats at most; keep it short so a
      // renewed certificate is used on the next connection (the agent makes a new client
      // after renewing anyway).
      keepAliveTimeout: opts.keepAliveTimeoutMs ?? 5_000,
      // The server's Keep-Alive hint (20 minutes, meant for metered nodes) must not override
      // the client's own choice: lan agents would otherwise hold idle connections for minutes.
      keepAliveMaxTimeout: opts.keepAliveTimeoutMs ?? 5_000,
    });
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** Sends a request and validates the response body with `schema`. */
  async call<S extends z.ZodType>(method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, schema: S, body?: unknown): Promise<z.infer<S>> {
    const raw = await this.send(method, path, body);
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new EdgefleetError({
        code: 'internal',
        status: 502,
        message: `unexpected response from ${method} ${path}: ${parsed.error.issues[0]?.message ?? 'invalid body'}`,
        hint: 'the server and this client may be different versions; upgrade the older one',
      });
    }
    return parsed.data;
  }

  /** Sends a request and returns the parsed JSON body (undefined for 204). */
  async send(method: string, path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Awaited<ReturnType<typeof request>>;
    try {
      await this.network?.beforeRequest({ method, path, bodyBytes: body === undefined ? 0 : 256 });
      res = await request(`${this.server}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (err) {
      throw connectionError(this.server, err);
    }
    return this.readJson(res, method, path);
  }

  /** Reads a JSON response; turns an error status into the server's EdgefleetError. */
  private async readJson(res: Awaited<ReturnType<typeof request>>, method: string, path: string): Promise<unknown> {
    const text = await res.body.text();
    await connectionReleased();
    let json: unknown;
    if (text.length > 0) {
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
    }
    if (res.statusCode >= 400) {
      const retryAfterMs = retryAfter(res.headers['retry-after']);
      if (isErrorBody(json)) {
        const e = json.error;
        throw new EdgefleetError({
          code: e.code,
          status: res.statusCode,
          message: e.message,
          hint: e.hint ?? '',
          ...(e.field === undefined ? {} : { field: e.field }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        });
      }
      throw new EdgefleetError({
        code: 'internal',
        status: res.statusCode,
        message: `${method} ${path} failed with HTTP ${res.statusCode}`,
        hint: 'check that --server points at an edgefleet server',
      });
    }
    return json;
  }

  // --- public ---
  serverInfo(): Promise<ServerInfo> {
    return this.call('GET', '/v1/info', ServerInfoSchema);
  }

  // --- operators ---
  async listNodes(selector?: string): Promise<NodeList> {
    const q = selector === undefined || selector === '' ? '' : `?selector=${encodeURIComponent(selector)}`;
    return this.call('GET', `/v1/nodes${q}`, NodeListSchema);
  }
  getNode(ref: string): Promise<Node> {
    return this.call('GET', `/v1/nodes/${encodeURIComponent(ref)}`, NodeSchema);
  }
  labelNode(ref: string, patch: NodeLabelPatch): Promise<Node> {
    return this.call('PATCH', `/v1/nodes/${encodeURIComponent(ref)}/labels`, NodeSchema, patch);
  }
  async deleteNode(ref: string): Promise<void> {
    await this.send('DELETE', `/v1/nodes/${encodeURIComponent(ref)}`);
  }
  createBootstrapToken(req: BootstrapTokenCreate): Promise<BootstrapTokenCreated> {
    return this.call('POST', '/v1/tokens', BootstrapTokenCreatedSchema, req);
  }
  async listBootstrapTokens(): Promise<BootstrapTokenInfo[]> {
    return (await this.call('GET', '/v1/tokens', BootstrapTokenListSchema)).items;
  }
  createApiToken(req: ApiTokenCreate): Promise<ApiTokenCreated> {
    return this.call('POST', '/v1/apitokens', ApiTokenCreatedSchema, req);
  }
  async listApiTokens(): Promise<ApiTokenInfo[]> {
    return (await this.call('GET', '/v1/apitokens', ApiTokenListSchema)).items;
  }

  // --- artifacts ---
  /** Streams a file to the server's content-addressed store; the server computes the digest. */
  async pushArtifact(body: Readable, size?: number): Promise<ArtifactInfo> {
    const headers: Record<string, string> = { accept: 'application/json', 'content-type': 'application/octet-stream' };
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (size !== undefined) headers['content-length'] = String(size);
    let res: Awaited<ReturnType<typeof request>>;
    try {
      await this.network?.beforeRequest({ method: 'POST', path: '/v1/artifacts', bodyBytes: size ?? 0 });
      res = await request(`${this.server}/v1/artifacts`, { method: 'POST', headers, body, dispatcher: this.dispatcher, headersTimeout: 0, bodyTimeout: 0 });
    } catch (err) {
      throw connectionError(this.server, err);
    }
    return ArtifactInfoSchema.parse(await this.readJson(res, 'POST', '/v1/artifacts'));
  }

  async listArtifacts(): Promise<ArtifactInfo[]> {
    return (await this.call('GET', '/v1/artifacts', ArtifactListSchema)).items;
  }

  /**
   * Opens an artifact for reading from byte `offset` (a `Range` request when > 0). The
   * caller consumes `body`; `status` is 200 (whole) or 206 (from offset). Errors throw.
   */
  async openArtifact(
    digest: string,
    offset = 0,
    signal?: AbortSignal,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Readable }> {
    const headers: Record<string, string> = {};
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`;
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let res: Awaited<ReturnType<typeof request>>;
    try {
      await this.network?.beforeRequest({ method: 'GET', path: `/v1/artifacts/${digest}`, bodyBytes: 0 });
      res = await request(`${this.server}/v1/artifacts/${digest}`, {
        method: 'GET',
        headers,
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      throw connectionError(this.server, err);
    }
    if (res.statusCode >= 400) await this.readJson(res, 'GET', `/v1/artifacts/${digest}`);
    return { status: res.statusCode, headers: res.headers, body: res.body };
  }

  // --- deployments ---
  /** Applies manifests (already validated locally) as one unit. */
  async apply(
    manifests: unknown[],
    origins?: string[],
  ): Promise<{ results: Array<{ name: string; result: 'created' | 'configured' | 'unchanged'; revision: number; generation: number }> }> {
    return (await this.send('POST', '/v1/apply', { manifests, ...(origins === undefined ? {} : { origins }) })) as {
      results: Array<{ name: string; result: 'created' | 'configured' | 'unchanged'; revision: number; generation: number }>;
    };
  }
  async listDeployments(): Promise<{ items: DeploymentView[] }> {
    return (await this.send('GET', '/v1/deployments')) as { items: DeploymentView[] };
  }
  async getDeployment(name: string): Promise<DeploymentView> {
    return (await this.send('GET', `/v1/deployments/${encodeURIComponent(name)}`)) as DeploymentView;
  }
  async deleteDeployment(name: string): Promise<void> {
    await this.send('DELETE', `/v1/deployments/${encodeURIComponent(name)}`);
  }
  async listKeys(): Promise<TrustedKey[]> {
    return ((await this.send('GET', '/v1/keys')) as { items: TrustedKey[] }).items;
  }
  async trustKey(publicKey: string, endorsement?: { signedBy: string; signature: string }): Promise<TrustedKey> {
    return (await this.send('POST', '/v1/keys', { publicKey, ...(endorsement ?? {}) })) as TrustedKey;
  }

  // --- GitOps sources ---
  /** Adds a git repository (http(s) URL or absolute path on the server) whose manifests the server applies. */
  async createSource(req: { name: string; url: string; branch?: string; path?: string; interval?: string }): Promise<SourceView> {
    return (await this.send('POST', '/v1/sources', req)) as SourceView;
  }
  async listSources(): Promise<{ items: SourceView[] }> {
    return (await this.send('GET', '/v1/sources')) as { items: SourceView[] };
  }
  async getSource(name: string): Promise<SourceView> {
    return (await this.send('GET', `/v1/sources/${encodeURIComponent(name)}`)) as SourceView;
  }
  /** Deletes a source; the deployments it applied are pruned. */
  async deleteSource(name: string): Promise<void> {
    await this.send('DELETE', `/v1/sources/${encodeURIComponent(name)}`);
  }
  /** Polls the source now and returns its status after the attempt. */
  async syncSource(name: string): Promise<SourceView> {
    return (await this.send('POST', `/v1/sources/${encodeURIComponent(name)}/sync`)) as SourceView;
  }

  // --- rollouts ---
  /** The rollout status of a deployment (the `rollout status -o json` shape). */
  async rolloutStatus(name: string): Promise<Record<string, unknown>> {
    return (await this.send('GET', `/v1/deployments/${encodeURIComponent(name)}/rollout`)) as Record<string, unknown>;
  }
  /** Sends an operator command to a rollout: pause, resume, promote (full), abort, undo (now). */
  async rolloutCommand(name: string, command: 'pause' | 'resume' | 'promote' | 'abort' | 'undo', opts: { full?: boolean; now?: boolean } = {}): Promise<void> {
    await this.send('POST', `/v1/deployments/${encodeURIComponent(name)}/rollout/${command}`, opts);
  }
  /** Rollout decisions, oldest first. */
  async events(deployment?: string, limit = 500): Promise<Array<Record<string, unknown>>> {
    const q = new URLSearchParams({ limit: String(limit), ...(deployment === undefined ? {} : { deployment }) });
    return ((await this.send('GET', `/v1/events?${q}`)) as { items: Array<Record<string, unknown>> }).items;
  }

  // --- agents ---
  /**
   * Long-polls the node's desired state: answers at once when the server's version differs
   * from `since`, else waits up to `waitSeconds`; returns undefined when nothing changed.
   */
  async desired(since: string | undefined, waitSeconds: number, signal?: AbortSignal): Promise<DesiredState | undefined> {
    const q = new URLSearchParams({ wait: String(waitSeconds), ...(since === undefined ? {} : { since }) });
    let res: Awaited<ReturnType<typeof request>>;
    try {
      await this.network?.beforeRequest({ method: 'GET', path: '/v1/agent/desired', bodyBytes: 0 });
      res = await request(`${this.server}/v1/agent/desired?${q}`, {
        method: 'GET',
        headers: { accept: 'application/json' },
        dispatcher: this.dispatcher,
        headersTimeout: (waitSeconds + 30) * 1000,
        bodyTimeout: this.timeoutMs,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      throw connectionError(this.server, err);
    }
    if (res.statusCode === 304) {
      await res.body.dump();
      await connectionReleased();
      return undefined;
    }
    return DesiredStateSchema.parse(await this.readJson(res, 'GET', '/v1/agent/desired'));
  }

  enroll(req: EnrollRequest): Promise<EnrollResponse> {
    return this.call('POST', '/v1/enroll', EnrollResponseSchema, req);
  }
  reportStatus(req: StatusRequest): Promise<StatusResponse> {
    return this.call('POST', '/v1/agent/status', StatusResponseSchema, req);
  }
  renew(csr: string): Promise<RenewResponse> {
    return this.call('POST', '/v1/agent/renew', RenewResponseSchema, { csr });
  }
  /** Uploads one encoded metrics batch (see docs/TELEMETRY.md). */
  uploadTelemetry(batch: Uint8Array, signal?: AbortSignal): Promise<TelemetryUploadResponse> {
    return this.postBytes('/v1/agent/telemetry', TELEMETRY_CONTENT_TYPE, batch, TelemetryUploadResponseSchema, signal);
  }
  /** Uploads one encoded log batch. */
  uploadLogs(batch: Uint8Array, signal?: AbortSignal): Promise<TelemetryUploadResponse> {
    return this.postBytes('/v1/agent/logs', LOG_CONTENT_TYPE, batch, TelemetryUploadResponseSchema, signal);
  }

  // --- telemetry, operators ---
  /** A node's log lines (oldest first); pass `next` back as `after` to follow. */
  nodeLogs(ref: string, q: { workload?: string; since?: string; after?: number; limit?: number } = {}): Promise<LogList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    return this.call('GET', `/v1/nodes/${encodeURIComponent(ref)}/logs?${params}`, LogListSchema);
  }
  alerts(q: { state?: 'firing' | 'resolved' | 'all'; node?: string } = {}): Promise<AlertList> {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    return this.call('GET', `/v1/alerts?${params}`, AlertListSchema);
  }
  nodeTelemetry(ref: string): Promise<NodeTelemetry> {
    return this.call('GET', `/v1/nodes/${encodeURIComponent(ref)}/telemetry`, NodeTelemetrySchema);
  }

  /** POSTs raw bytes with a content type and validates the JSON answer. */
  private async postBytes<S extends z.ZodType>(path: string, contentType: string, body: Uint8Array, schema: S, signal?: AbortSignal): Promise<z.infer<S>> {
    let res: Awaited<ReturnType<typeof request>>;
    try {
      await this.network?.beforeRequest({ method: 'POST', path, bodyBytes: body.byteLength });
      res = await request(`${this.server}${path}`, {
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
        dispatcher: this.dispatcher,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      throw connectionError(this.server, err);
    }
    const json = await this.readJson(res, 'POST', path);
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new EdgefleetError({
        code: 'internal',
        status: 502,
        message: `unexpected response from POST ${path}: ${parsed.error.issues[0]?.message ?? 'invalid body'}`,
        hint: 'the server and this node may be different versions; upgrade the older one',
      });
    }
    return parsed.data;
  }
}

/** `Retry-After` in seconds (or an HTTP date) → ms; undefined when absent or unreadable. */
function retryAfter(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** Accepts `host:port` or a full URL and returns `https://host:port` without a trailing slash. */
export function normaliseServerUrl(server: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(server) ? server : `https://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new EdgefleetError({ code: 'config', status: 400, message: `invalid server URL "${server}"`, hint: 'write it as https://HOST:PORT' });
  }
  if (url.protocol !== 'https:') {
    throw new EdgefleetError({
      code: 'config',
      status: 400,
      message: `server URL "${server}" is not https`,
      hint: 'edgefleet servers speak HTTPS only: write https://HOST:PORT',
    });
  }
  return url.origin;
}

function connectionError(server: string, err: unknown): EdgefleetError {
  const cause = err as { code?: string; message?: string };
  const code = cause.code ?? '';
  const tls = /CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|HOSTNAME|ALTNAME/.test(code) || /certificate/i.test(cause.message ?? '');
  return new EdgefleetError({
    code: tls ? 'server_untrusted' : 'unreachable',
    status: 0,
    message: tls ? `the TLS connection to ${server} failed: ${cause.message ?? code}` : `cannot reach ${server}: ${cause.message ?? code}`,
    hint: tls
      ? 'give the fleet CA certificate with --ca or EDGEFLEET_CA (the server prints its path at start), or check the URL'
      : 'check that the server is running and that --server or EDGEFLEET_SERVER is right',
    cause: err,
  });
}

/**
 * Fetches the fleet CA certificate from a server we do not trust yet and accepts it only
 * when its SHA-256 fingerprint is the one we were given out of band (in the bootstrap
 * token). After this, every connection verifies the server against that CA.
 */
export async function fetchPinnedCaCertificate(server: string, expectedFingerprint: string, network?: NetworkConditions): Promise<string> {
  const base = normaliseServerUrl(server);
  // This one request skips verification on purpose: what it returns is checked by hash.
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    let text: string;
    try {
      await network?.beforeRequest({ method: 'GET', path: '/v1/ca', bodyBytes: 0 });
      const res = await request(`${base}/v1/ca`, { dispatcher: insecure, headersTimeout: 30_000, bodyTimeout: 30_000 });
      text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
    } catch (err) {
      throw connectionError(base, err);
    }
    let fingerprint: string;
    try {
      fingerprint = certificateFingerprint(text);
    } catch {
      throw new EdgefleetError({
        code: 'server_untrusted',
        status: 0,
        message: `${base}/v1/ca did not return a certificate`,
        hint: 'check that --server points at an edgefleet server',
      });
    }
    if (fingerprint !== expectedFingerprint) {
      throw new EdgefleetError({
        code: 'server_untrusted',
        status: 0,
        message: `the server at ${base} has CA fingerprint sha256:${fingerprint}, but the token pins sha256:${expectedFingerprint}`,
        hint: 'this is not the server that issued the token: check --server, or create a token on the right server',
      });
    }
    return text;
  } finally {
    await insecure.close();
  }
}
