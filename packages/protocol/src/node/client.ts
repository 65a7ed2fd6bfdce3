import type { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import {
  ApiClient,
  connectionError,
  type NetworkConditions,
  normaliseServerUrls,
  type RawResponse,
  type RequestOptions,
  type RouteInput,
  type RouteOutput,
} from '../api/client-core.js';
import type { RouteName } from '../api/routes.js';
import { failoverReason, ServerChoice } from '../api/server-choice.js';
import type {
  ApplyResponse,
  DeploymentList,
  DeploymentView,
  LatencyHistory,
  ProvisionBatchCreate,
  ProvisionBatchCreated,
  ProvisionBatchStatus,
  RegistryDeleteResponse,
  RegistryPutResponse,
  RegistryView,
  RevisionView,
  RevokeKeyResponse,
  RolloutCommand,
  RolloutCommandAccepted,
  RolloutCommandOptions,
  RolloutEventView,
  RolloutStatus,
  SourceCreate,
  SourceView,
} from '../api/views.js';
import type { DesiredState, KeyRevocation, TrustedKey } from '../desired.js';
import { EdgefleetError } from '../errors.js';
import type { AlertList, LogList, NodeTelemetry, TelemetryUploadResponse } from '../telemetry/api.js';
import type {
  ApiTokenCreate,
  ApiTokenCreated,
  ApiTokenInfo,
  ArtifactInfo,
  BootstrapTokenCreate,
  BootstrapTokenCreated,
  BootstrapTokenInfo,
  EnrollRequest,
  EnrollResponse,
  Node,
  NodeDetail,
  NodeLabelPatch,
  NodeList,
  RegistryCreate,
  RenewResponse,
  ServerInfo,
  StatusRequest,
  StatusResponse,
} from '../wire.js';
import { failoverTransport } from './failover-transport.js';
import { type OneCertificate, parseOneCertificate } from './fingerprint.js';
import type { UndiciTransport } from './undici-transport.js';

/** How to reach and authenticate to a server. */
interface ClientOptions {
  /**
   * Base URL, `https://host:port`, or several URLs of one control plane (replicas sharing
   * one CA): a request that finds one unreachable, timing out or answering 502/503/504 is
   * sent to the next (failover-transport.ts).
   */
  server: string | readonly string[];
  /** Uniform [0, 1) for the first of several URLs and the rests' jitter (Math.random when omitted). */
  random?: () => number;
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
   * How long an idle connection stays open (default 5 s). Agents keep theirs longer than
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

/** Options of a telemetry or log upload. */
export interface UploadOptions {
  signal?: AbortSignal;
  /** The `uploadAnswerDigest` of the settings the node holds: the server answers 204 when they are unchanged. */
  known?: string;
}

/**
 * The typed API client in Node: the generated client (`request(routeName, …)`) over undici,
 * with one named method per route. The CLI, the agent, the simulator and the tests all
 * talk to the server through it, so a request has one shape everywhere and an API error
 * comes back as the server's own `EdgefleetError` (code, message, hint).
 */
export class EdgefleetClient {
  /** The URL, or the URLs joined with " or " (for messages). */
  readonly server: string;
  /** Every URL, normalised, in the order given. */
  readonly servers: readonly string[];
  private readonly transport: UndiciTransport;
  private readonly api: ApiClient<Readable>;

  constructor(opts: ClientOptions) {
    this.servers = normaliseServerUrls(opts.server);
    this.server = this.servers.join(' or ');
    this.transport = failoverTransport({
      servers: this.servers,
      ...(opts.random === undefined ? {} : { random: opts.random }),
      ...(opts.ca === undefined ? {} : { ca: opts.ca }),
      ...(opts.cert === undefined ? {} : { cert: opts.cert }),
      ...(opts.key === undefined ? {} : { key: opts.key }),
      ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
      ...(opts.keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs: opts.keepAliveTimeoutMs }),
      ...(opts.tcpKeepAlive === undefined ? {} : { tcpKeepAlive: opts.tcpKeepAlive }),
    });
    this.api = new ApiClient({
      transport: this.transport,
      server: this.server,
      ...(opts.token === undefined ? {} : { token: opts.token }),
      ...(opts.network === undefined ? {} : { network: opts.network }),
    });
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.transport.close();
  }

  /** Calls any route of the table (`client.request('getNode', { params: { ref } })`). */
  request<N extends RouteName>(name: N, input: RouteInput<N, Readable>, opts?: RequestOptions): Promise<RouteOutput<N, Readable>> {
    return this.api.request(name, input, opts);
  }

  /**
   * A request outside the route table, its JSON answer unvalidated. Only for tests of the
   * server's own validation (a malformed body, an unknown route); use the named methods.
   */
  send(method: string, path: string, body?: unknown): Promise<unknown> {
    return this.api.unchecked(method, path, body);
  }

  // --- public ---
  serverInfo(): Promise<ServerInfo> {
    return this.request('serverInfo', {});
  }

  /** This replica's metrics in the Prometheus text format (who leads, the lease term). */
  serverMetrics(): Promise<string> {
    return this.request('serverMetrics', {});
  }

  // --- operators ---
  listNodes(selector?: string): Promise<NodeList> {
    return this.request('listNodes', { query: { selector } });
  }
  getNode(ref: string): Promise<NodeDetail> {
    return this.request('getNode', { params: { ref } });
  }
  labelNode(ref: string, patch: NodeLabelPatch): Promise<Node> {
    return this.request('labelNode', { params: { ref }, body: patch });
  }
  async deleteNode(ref: string): Promise<void> {
    await this.request('deleteNode', { params: { ref } });
  }
  createBootstrapToken(req: BootstrapTokenCreate): Promise<BootstrapTokenCreated> {
    return this.request('createBootstrapToken', { body: req });
  }
  async listBootstrapTokens(): Promise<BootstrapTokenInfo[]> {
    return (await this.request('listBootstrapTokens', {})).items;
  }
  async deleteBootstrapToken(id: string): Promise<void> {
    await this.request('deleteBootstrapToken', { params: { id } });
  }
  /** Mints a provisioning batch: one bound, one-use token per device (token texts in this answer only). */
  createProvisionBatch(req: ProvisionBatchCreate): Promise<ProvisionBatchCreated> {
    return this.request('createProvisionBatch', { body: req });
  }
  /** Where each device of a provisioning batch is: enrolled, pending or expired. */
  provisionBatchStatus(id: string): Promise<ProvisionBatchStatus> {
    return this.request('provisionBatchStatus', { params: { id } });
  }
  createApiToken(req: ApiTokenCreate): Promise<ApiTokenCreated> {
    return this.request('createApiToken', { body: req });
  }
  async listApiTokens(): Promise<ApiTokenInfo[]> {
    return (await this.request('listApiTokens', {})).items;
  }
  async deleteApiToken(id: string): Promise<void> {
    await this.request('deleteApiToken', { params: { id } });
  }

  // --- artifacts ---
  /** Streams a file to the server's content-addressed store; the server computes the digest. */
  pushArtifact(body: Readable, size?: number): Promise<ArtifactInfo> {
    return this.request('pushArtifact', { body: { stream: body, ...(size === undefined ? {} : { size }) } }, { headersTimeoutMs: 0, bodyTimeoutMs: 0 });
  }
  async listArtifacts(): Promise<ArtifactInfo[]> {
    return (await this.request('listArtifacts', {})).items;
  }
  /**
   * Opens an artifact for reading from byte `offset` (a `Range` request when > 0). The
   * caller consumes `body`; `status` is 200 (whole) or 206 (from offset). Errors throw.
   */
  openArtifact(digest: string, offset = 0, signal?: AbortSignal): Promise<RawResponse<Readable>> {
    return this.request(
      'downloadArtifact',
      { params: { digest } },
      { ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}), ...(signal === undefined ? {} : { signal }) },
    );
  }

  // --- deployments ---
  /** Applies manifests (already validated locally) as one unit. */
  apply(manifests: unknown[], origins?: string[]): Promise<ApplyResponse> {
    return this.request('apply', { body: { manifests, ...(origins === undefined ? {} : { origins }) } });
  }
  listDeployments(): Promise<DeploymentList> {
    return this.request('listDeployments', {});
  }
  getDeployment(name: string): Promise<DeploymentView> {
    return this.request('getDeployment', { params: { name } });
  }
  async listRevisions(name: string): Promise<RevisionView[]> {
    return (await this.request('listRevisions', { params: { name } })).items;
  }
  /** A deployment's hourly latency history (`since`: a duration, default 7d). */
  deploymentLatency(name: string, query: { since?: string; site?: string; revision?: number; bySite?: boolean } = {}): Promise<LatencyHistory> {
    const { bySite, ...rest } = query;
    return this.request('deploymentLatency', { params: { name }, query: { ...rest, ...(bySite === undefined ? {} : { bySite: bySite ? 'true' : 'false' }) } });
  }
  async deleteDeployment(name: string): Promise<void> {
    await this.request('deleteDeployment', { params: { name } });
  }
  async listKeys(): Promise<TrustedKey[]> {
    return (await this.request('listKeys', {})).items;
  }
  /** Trusts a release key with its signed expiry (the first key endorses itself): see `endorseKey`. */
  trustKey(publicKey: string, endorsement: { signedBy: string; signature: string; expiresAt: string }): Promise<TrustedKey> {
    return this.request('trustKey', { body: { publicKey, ...endorsement } });
  }

  /** Revokes a release key with a revocation another live key signed: see `revokeKey` in release-signature.ts. */
  revokeKey(keyId: string, revocation: KeyRevocation): Promise<RevokeKeyResponse> {
    return this.request('revokeKey', { params: { keyId }, body: revocation });
  }

  // --- container registries ---
  /** Adds a container registry, or replaces the one of that name entirely (the password is write-only). */
  createRegistry(req: RegistryCreate): Promise<RegistryPutResponse> {
    return this.request('createRegistry', { body: req });
  }
  /** Lists container registries, never their passwords. */
  listRegistries(): Promise<{ items: RegistryView[] }> {
    return this.request('listRegistries', {});
  }
  /** Deletes a container registry; the answer names deployments that still pull from it. */
  deleteRegistry(name: string): Promise<RegistryDeleteResponse> {
    return this.request('deleteRegistry', { params: { name } });
  }

  // --- GitOps sources ---
  /** Adds a git repository (http(s) URL or absolute path on the server) whose manifests the server applies. */
  createSource(req: SourceCreate): Promise<SourceView> {
    return this.request('createSource', { body: req });
  }
  listSources(): Promise<{ items: SourceView[] }> {
    return this.request('listSources', {});
  }
  getSource(name: string): Promise<SourceView> {
    return this.request('getSource', { params: { name } });
  }
  /** Deletes a source; the deployments it applied are pruned. */
  async deleteSource(name: string): Promise<void> {
    await this.request('deleteSource', { params: { name } });
  }
  /** Polls the source now and returns its status after the attempt. */
  syncSource(name: string): Promise<SourceView> {
    return this.request('syncSource', { params: { name } });
  }

  // --- rollouts ---
  /** The rollout status of a deployment (the `rollout status -o json` shape). */
  rolloutStatus(name: string): Promise<RolloutStatus> {
    return this.request('rolloutStatus', { params: { name } });
  }
  /** Sends an operator command to a rollout: pause, resume, promote (full), abort, undo (now). */
  rolloutCommand(name: string, command: RolloutCommand, opts: RolloutCommandOptions = {}): Promise<RolloutCommandAccepted> {
    return this.request('rolloutCommand', { params: { name, command }, body: opts });
  }
  /** Rollout decisions, oldest first. */
  async events(deployment?: string, limit = 500): Promise<RolloutEventView[]> {
    return (await this.request('events', { query: { limit, deployment } })).items;
  }

  // --- agents ---
  /**
   * Long-polls the node's desired state: answers at once when the server's version differs
   * from `since`, else waits up to `waitSeconds`; returns undefined when nothing changed.
   */
  desired(since: string | undefined, waitSeconds: number, signal?: AbortSignal): Promise<DesiredState | undefined> {
    return this.request(
      'desired',
      { query: { wait: waitSeconds, since } },
      { headersTimeoutMs: (waitSeconds + 30) * 1000, ...(signal === undefined ? {} : { signal }) },
    );
  }
  enroll(req: EnrollRequest): Promise<EnrollResponse> {
    return this.request('enroll', { body: req });
  }
  /** A heartbeat; the full answer (no `known`: the server never answers 204 to it). */
  async reportStatus(req: StatusRequest): Promise<StatusResponse> {
    const res = await this.request('reportStatus', { body: req });
    if (res === undefined) {
      throw new EdgefleetError({
        code: 'unexpected_response',
        message: 'POST /v1/agent/status answered 204 to a heartbeat that named no known answer',
        hint: 'the server and this client may be different versions; upgrade the older one',
      });
    }
    return res;
  }
  /**
   * A heartbeat that says what the node holds (`known`, the `uploadAnswerDigest` of its
   * telemetry settings and heartbeat interval); undefined when the server answered 204: unchanged.
   */
  reportStatusHolding(req: StatusRequest, known: string): Promise<StatusResponse | undefined> {
    return this.request('reportStatus', { body: req, query: { known } });
  }
  renew(csr: string): Promise<RenewResponse> {
    return this.request('renew', { body: { csr } });
  }
  /**
   * Uploads one encoded metrics batch (see docs/TELEMETRY.md). With `known` (the
   * `uploadAnswerDigest` of what the node holds), undefined means the server answered 204:
   * the batch was taken and the node's settings are unchanged.
   */
  uploadTelemetry(batch: Uint8Array, opts: UploadOptions = {}): Promise<TelemetryUploadResponse | undefined> {
    return this.request('uploadTelemetry', { body: batch, query: { known: opts.known } }, opts.signal === undefined ? {} : { signal: opts.signal });
  }
  /** Uploads one encoded log batch; `known` and undefined as for {@link uploadTelemetry}. */
  uploadLogs(batch: Uint8Array, opts: UploadOptions = {}): Promise<TelemetryUploadResponse | undefined> {
    return this.request('uploadLogs', { body: batch, query: { known: opts.known } }, opts.signal === undefined ? {} : { signal: opts.signal });
  }

  // --- telemetry, operators ---
  /** A node's log lines (oldest first); pass `next` back as `after` to follow. */
  nodeLogs(ref: string, q: { workload?: string; since?: string; after?: number; limit?: number } = {}): Promise<LogList> {
    return this.request('nodeLogs', { params: { ref }, query: q });
  }
  alerts(q: { state?: 'firing' | 'resolved' | 'all'; node?: string } = {}): Promise<AlertList> {
    return this.request('alerts', { query: q });
  }
  nodeTelemetry(ref: string): Promise<NodeTelemetry> {
    return this.request('nodeTelemetry', { params: { ref } });
  }
}

/**
 * Fetches the fleet CA certificate from a server we do not trust yet and accepts it only
 * when the answer is exactly one certificate whose SHA-256 fingerprint (of its DER) is the
 * one we were given out of band (in the bootstrap token). Returns that certificate
 * re-encoded from its DER, never the server's text: a second certificate in the answer
 * would otherwise be trusted along with the pinned one (docs/SECURITY.md). After this,
 * every connection verifies the server against that CA.
 *
 * Given several URLs (replicas), they are asked in the order of a {@link ServerChoice}
 * (a random first one), moving on only when one cannot be reached; a URL that answers
 * with another CA ends the search with that error: the pin is never bargained away.
 */
export async function fetchPinnedCaCertificate(
  server: string | readonly string[],
  expectedFingerprint: string,
  network?: NetworkConditions,
  random: () => number = Math.random,
): Promise<string> {
  const bases = normaliseServerUrls(server);
  const choice = new ServerChoice(bases, { random });
  const order = choice.order(0);
  for (const [k, i] of order.entries()) {
    try {
      return await fetchPinnedCaFrom(bases[i] as string, expectedFingerprint, network);
    } catch (err) {
      if (k === order.length - 1 || !(err instanceof EdgefleetError) || err.code !== 'unreachable') throw err;
      const status = (err.cause as { status?: unknown } | undefined)?.status;
      const reason = typeof status === 'number' ? failoverReason({ status }) : failoverReason({ error: err.cause });
      if (reason === undefined) throw err;
    }
  }
  throw new Error('unreachable: a server choice always has a URL');
}

/** {@link fetchPinnedCaCertificate} from one URL. */
async function fetchPinnedCaFrom(base: string, expectedFingerprint: string, network?: NetworkConditions): Promise<string> {
  // This one request skips verification on purpose: what it returns is checked by hash.
  const insecure = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    let text: string;
    try {
      await network?.beforeRequest({ method: 'GET', path: '/v1/ca', bodyBytes: 0 });
      const res = await request(`${base}/v1/ca`, { dispatcher: insecure, headersTimeout: 30_000, bodyTimeout: 30_000 });
      text = await res.body.text();
      if (res.statusCode !== 200) throw Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode });
    } catch (err) {
      throw connectionError(base, err);
    }
    let ca: OneCertificate;
    try {
      ca = parseOneCertificate(text);
    } catch (err) {
      throw new EdgefleetError({
        code: 'server_untrusted',
        message: `${base}/v1/ca did not answer exactly one certificate: ${(err as Error).message}`,
        hint: 'an edgefleet server answers with its fleet CA alone: check that --server points at an edgefleet server and that nothing between this node and it alters the answer',
      });
    }
    const expected = expectedFingerprint.toLowerCase();
    if (ca.fingerprint !== expected) {
      throw new EdgefleetError({
        code: 'server_untrusted',
        message: `the server at ${base} has CA fingerprint sha256:${ca.fingerprint}, but the token pins sha256:${expected}`,
        hint: 'this is not the server that issued the token: check --server, or create a token on the right server',
      });
    }
    return ca.pem;
  } finally {
    await insecure.close();
  }
}
