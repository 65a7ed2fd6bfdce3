/**
 * The API contract: every route the server has, with its method, path, who may call it,
 * and its params, query, body and response as zod schemas. It is the only place a request
 * or response shape is written; the server registers its routes from it, the client
 * (`client-core.ts`) is generated from it and `npm run docs:api` renders docs/API.md from it.
 *
 * Routes whose body or answer is not JSON say what they carry instead (`binary` bodies with
 * their content type, `text`, `bytes` and `sse` answers), so no route exists outside the table.
 */
import { z } from 'zod';
import { DesiredStateSchema, KeyRevocationSchema, TrustedKeySchema } from '../desired.js';
import { ArtifactDigestSchema } from '../manifest.js';
import { AlertListSchema, LogListSchema, NodeTelemetrySchema, TelemetryUploadResponseSchema } from '../telemetry/api.js';
import { LOG_CONTENT_TYPE, TELEMETRY_CONTENT_TYPE } from '../telemetry/types.js';
import {
  ApiTokenCreatedSchema,
  ApiTokenCreateSchema,
  ApiTokenListSchema,
  ArtifactInfoSchema,
  ArtifactListSchema,
  BootstrapTokenCreatedSchema,
  BootstrapTokenCreateSchema,
  BootstrapTokenListSchema,
  EnrollRequestSchema,
  EnrollResponseSchema,
  NodeDetailSchema,
  NodeLabelPatchSchema,
  NodeListSchema,
  NodeSchema,
  ReenrollRequestSchema,
  RegistryCreateSchema,
  RenewExpiredRequestSchema,
  RenewRequestSchema,
  RenewResponseSchema,
  ServerInfoSchema,
  StatusRequestSchema,
  StatusResponseSchema,
} from '../wire.js';
import {
  ApplyRequestSchema,
  ApplyResponseSchema,
  AuditListSchema,
  type CallerKind,
  DeploymentListSchema,
  DeploymentViewSchema,
  HealthzSchema,
  LatencyHistorySchema,
  LatestValuesSchema,
  NodeCertificateListSchema,
  ProvisionBatchCreatedSchema,
  ProvisionBatchCreateSchema,
  ProvisionBatchStatusSchema,
  RegistryDeleteResponseSchema,
  RegistryListSchema,
  RegistryPutResponseSchema,
  RevisionListSchema,
  RevokeKeyResponseSchema,
  RolloutCommandAcceptedSchema,
  RolloutCommandOptionsSchema,
  RolloutCommandSchema,
  RolloutEventListSchema,
  RolloutStatusSchema,
  SourceCreateSchema,
  SourceListSchema,
  SourceViewSchema,
  TrustKeyRequestSchema,
  WatchEventSchemas,
  WhoamiSchema,
} from './views.js';

/** HTTP methods the API uses. */
export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'DELETE';

/** A request body: JSON validated by a schema, or raw bytes of one content type. */
export type BodySpec =
  | { kind: 'json'; schema: z.ZodType }
  /** Raw bytes (a stream for large ones); `maxBytes` is the server's limit. */
  | { kind: 'binary'; contentType: string; description: string; maxBytes: number };

/** What a route answers. */
export type ResponseSpec =
  /**
   * JSON validated by `schema`, with this status; `notModified`: may answer 304 with no body
   * instead; `noContent`: may answer 204 with no body when the caller already holds the answer.
   */
  | { kind: 'json'; status: 200 | 201; schema: z.ZodType; notModified?: true; noContent?: true }
  /** 204, no body. */
  | { kind: 'empty'; status: 204 }
  /** Text of one content type (the CA certificate's PEM). */
  | { kind: 'text'; status: 200; contentType: string }
  /** A byte stream (200, or 206 for a `Range` request), or headers only for HEAD. */
  | { kind: 'bytes'; status: 200; contentType: string; description: string }
  /** Server-sent events: each event name with its JSON `data`. */
  | { kind: 'sse'; status: 200; events: Record<string, z.ZodType> }
  /** The dashboard's static files (HTML, scripts, styles). */
  | { kind: 'static'; status: 200 };

/** One route of the API. */
export interface RouteSpec {
  method: HttpMethod;
  /** Fastify-style path: `/v1/nodes/:ref`. */
  path: string;
  /**
   * Register the route with a `*` wildcard for its one param instead of `:name` (a path
   * parameter longer than 100 characters gets a bare 414 from the router, and a malformed
   * value must be the route's own 400 naming the field). See {@link routerPath}.
   */
  wildcard?: true;
  /** Who may call it; with several, any one of them may. */
  caller: CallerKind | readonly CallerKind[];
  /** The resource it belongs to (docs/API.md groups by it). */
  resource: string;
  /** One line: what it does. */
  summary: string;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: BodySpec;
  response: ResponseSpec;
}

const json = <S extends z.ZodType>(schema: S) => ({ kind: 'json', status: 200, schema }) as const;
const created = <S extends z.ZodType>(schema: S) => ({ kind: 'json', status: 201, schema }) as const;
const jsonBody = <S extends z.ZodType>(schema: S) => ({ kind: 'json', schema }) as const;
const noContent = { kind: 'empty', status: 204 } as const;

const NodeRefParams = z.object({ ref: z.string().min(1) });
/** An upload's or heartbeat's query: the digest of the answer the node holds (`uploadAnswerDigest`). */
const UploadQuery = z.object({
  known: z
    .string()
    .regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits: the uploadAnswerDigest of the settings the node holds')
    .optional(),
});
/** 200 with the full answer, or 204 when it would repeat what the node holds (`known`) and nothing was rejected. */
const uploadAnswer = { kind: 'json', status: 200, schema: TelemetryUploadResponseSchema, noContent: true } as const;
const NameParams = z.object({ name: z.string().min(1) });
const IdParams = z.object({ id: z.string().min(1) });
const DigestParams = z.object({ digest: ArtifactDigestSchema });
const KeyIdParams = z.object({ keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be a key id, 16 hex digits') });

/** Artifacts are accepted up to 8 GiB (the store checks the length as it writes). */
export const ARTIFACT_BODY_LIMIT_BYTES = 8 * 1024 ** 3;
/** Metrics and log uploads: at most 1 MiB on the wire (their decoded size is limited apart). */
export const TELEMETRY_BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * Every route of the API by name. The names are the client's method names
 * (`client.request('getNode', { params: { ref } })`).
 */
export const routes = {
  // --- public ---
  ca: {
    method: 'GET',
    path: '/v1/ca',
    caller: 'public',
    resource: 'server',
    summary: "The fleet CA certificate; agents check it against their bootstrap token's fingerprint before trusting it.",
    response: { kind: 'text', status: 200, contentType: 'application/x-pem-file' },
  },
  serverInfo: {
    method: 'GET',
    path: '/v1/info',
    caller: 'public',
    resource: 'server',
    summary: 'Server version, CA fingerprint and the heartbeat interval.',
    response: json(ServerInfoSchema),
  },
  health: {
    method: 'GET',
    path: '/healthz',
    caller: 'public',
    resource: 'server',
    summary: 'Liveness: answers while the process serves requests.',
    response: json(HealthzSchema),
  },
  healthHead: {
    method: 'HEAD',
    path: '/healthz',
    caller: 'public',
    resource: 'server',
    summary: 'Liveness for load balancers that check with HEAD: the same answer, headers only.',
    response: json(HealthzSchema),
  },
  serverMetrics: {
    method: 'GET',
    path: '/metrics',
    caller: 'viewer',
    resource: 'server',
    summary:
      "This replica's own metrics in the Prometheus text format: `edgefleet_leader{replica}` (1 while it holds the leader lease, which runs the rollout controller, GitOps polling and retention) and `edgefleet_leader_term{replica}` (the lease's fencing term it last saw); on PostgreSQL also `edgefleet_replicas{replica}` (the replicas it counts on the database, which share a release's pace). Scrape each replica with a viewer token.",
    response: { kind: 'text', status: 200, contentType: 'text/plain; version=0.0.4; charset=utf-8' },
  },
  whoami: {
    method: 'GET',
    path: '/v1/whoami',
    caller: 'viewer',
    resource: 'server',
    summary: "The calling token's role and id (which actions the dashboard offers).",
    response: json(WhoamiSchema),
  },

  // --- enrollment and agents ---
  enroll: {
    method: 'POST',
    path: '/v1/enroll',
    caller: 'public',
    resource: 'agent',
    summary: 'Enrolls a node with a bootstrap token (in the body) and a CSR; answers its client certificate.',
    body: jsonBody(EnrollRequestSchema),
    response: json(EnrollResponseSchema),
  },
  reportStatus: {
    method: 'POST',
    path: '/v1/agent/status',
    caller: 'node',
    resource: 'agent',
    summary:
      "A node's heartbeat: its facts, labels and workload states. With `known`, the digest of the telemetry settings and heartbeat interval the node holds, the answer is 204 when they are unchanged.",
    query: UploadQuery,
    body: jsonBody(StatusRequestSchema),
    response: { kind: 'json', status: 200, schema: StatusResponseSchema, noContent: true },
  },
  desired: {
    method: 'GET',
    path: '/v1/agent/desired',
    caller: 'node',
    resource: 'agent',
    summary:
      "Long-polls the node's desired state: answers at once when its version differs from `since`, else waits up to `wait` seconds and answers 304 when nothing changed.",
    query: z.object({ since: z.string().max(64).optional(), wait: z.coerce.number().min(0).max(300).default(0) }),
    response: { kind: 'json', status: 200, schema: DesiredStateSchema, notModified: true },
  },
  renew: {
    method: 'POST',
    path: '/v1/agent/renew',
    caller: 'node',
    resource: 'agent',
    summary: "Renews the node's client certificate from a new CSR.",
    body: jsonBody(RenewRequestSchema),
    response: json(RenewResponseSchema),
  },
  renewExpired: {
    method: 'POST',
    path: '/v1/renew-expired',
    caller: 'public',
    resource: 'agent',
    summary:
      "Renews an expired, unrevoked node certificate within 30 days of its expiry, proven by a signature of the certificate's key (TLS refuses an expired client certificate).",
    body: jsonBody(RenewExpiredRequestSchema),
    response: json(RenewResponseSchema),
  },
  uploadTelemetry: {
    method: 'POST',
    path: '/v1/agent/telemetry',
    caller: 'node',
    resource: 'agent',
    summary:
      'Uploads one encoded metrics batch (see docs/TELEMETRY.md). With `known`, the digest of the settings, heartbeat interval and desired version the node holds, the answer is 204 when they are unchanged and nothing was rejected.',
    query: UploadQuery,
    body: {
      kind: 'binary',
      contentType: TELEMETRY_CONTENT_TYPE,
      description: 'the binary metrics batch (deflate-compressed columns)',
      maxBytes: TELEMETRY_BODY_LIMIT_BYTES,
    },
    response: uploadAnswer,
  },
  uploadLogs: {
    method: 'POST',
    path: '/v1/agent/logs',
    caller: 'node',
    resource: 'agent',
    summary: 'Uploads one log batch; `known` as for metrics uploads (204 when the node holds the answer).',
    query: UploadQuery,
    body: { kind: 'binary', contentType: LOG_CONTENT_TYPE, description: 'a gzip-compressed JSON log batch', maxBytes: TELEMETRY_BODY_LIMIT_BYTES },
    response: uploadAnswer,
  },

  // --- nodes ---
  listNodes: {
    method: 'GET',
    path: '/v1/nodes',
    caller: 'viewer',
    resource: 'nodes',
    summary: 'Lists nodes, optionally only those a label selector matches.',
    query: z.object({ selector: z.string().optional() }),
    response: json(NodeListSchema),
  },
  getNode: {
    method: 'GET',
    path: '/v1/nodes/:ref',
    caller: 'viewer',
    resource: 'nodes',
    summary: 'One node, by id or name, with the workload states it last reported.',
    params: NodeRefParams,
    response: json(NodeDetailSchema),
  },
  labelNode: {
    method: 'PATCH',
    path: '/v1/nodes/:ref/labels',
    caller: 'operator',
    resource: 'nodes',
    summary: "Sets and removes a node's operator labels (they win over detected ones).",
    params: NodeRefParams,
    body: jsonBody(NodeLabelPatchSchema),
    response: json(NodeSchema),
  },
  deleteNode: {
    method: 'DELETE',
    path: '/v1/nodes/:ref',
    caller: 'admin',
    resource: 'nodes',
    summary: 'Decommissions a node: its certificates are revoked.',
    params: NodeRefParams,
    response: noContent,
  },
  reenrollNode: {
    method: 'POST',
    path: '/v1/nodes/:ref/reenroll',
    caller: 'operator',
    resource: 'nodes',
    summary:
      'Creates a one-use bootstrap token that enrolls this node again (same id, name and labels); its previous certificates are revoked when it is used.',
    params: NodeRefParams,
    body: jsonBody(ReenrollRequestSchema),
    response: created(BootstrapTokenCreatedSchema),
  },
  listNodeCertificates: {
    method: 'GET',
    path: '/v1/nodes/:ref/certificates',
    caller: 'viewer',
    resource: 'nodes',
    summary: 'Every certificate issued to a node, newest first: when it was first used, and whether and why it was revoked.',
    params: NodeRefParams,
    response: json(NodeCertificateListSchema),
  },
  revokeNodeCertificate: {
    method: 'POST',
    path: '/v1/nodes/:ref/certificates/:serial/revoke',
    caller: 'operator',
    resource: 'nodes',
    summary: "Revokes one of a node's certificates (a copied key): requests with it are refused from then on.",
    params: z.object({ ref: z.string().min(1), serial: z.string().min(1).max(128) }),
    response: noContent,
  },
  nodeLogs: {
    method: 'GET',
    path: '/v1/nodes/:ref/logs',
    caller: 'viewer',
    resource: 'nodes',
    summary: "A node's log lines, oldest first; pass `next` back as `after` to follow.",
    params: NodeRefParams,
    query: z.object({
      workload: z.string().min(1).optional(),
      since: z.string().optional(),
      after: z.coerce.number().int().nonnegative().optional(),
      limit: z.coerce.number().int().min(1).max(5000).default(1000),
    }),
    response: json(LogListSchema),
  },
  nodeTelemetry: {
    method: 'GET',
    path: '/v1/nodes/:ref/telemetry',
    caller: 'viewer',
    resource: 'nodes',
    summary: "A node's latest telemetry: one value per series, and its alerts.",
    params: NodeRefParams,
    response: json(NodeTelemetrySchema),
  },

  // --- telemetry reads ---
  alerts: {
    method: 'GET',
    path: '/v1/alerts',
    caller: 'viewer',
    resource: 'telemetry',
    summary: 'Alerts the nodes reported (firing by default).',
    query: z.object({ state: z.enum(['firing', 'resolved', 'all']).default('firing'), node: z.string().optional() }),
    response: json(AlertListSchema),
  },
  latestValues: {
    method: 'GET',
    path: '/v1/telemetry/latest',
    caller: 'viewer',
    resource: 'telemetry',
    summary: "One metric's latest value for every node (the dashboard's nodes table).",
    query: z.object({ name: z.string().regex(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/, 'must be a Prometheus metric name') }),
    response: json(LatestValuesSchema),
  },

  // --- tokens ---
  createBootstrapToken: {
    method: 'POST',
    path: '/v1/tokens',
    caller: 'operator',
    resource: 'tokens',
    summary: 'Creates a bootstrap token for enrolling nodes; the token text is shown only here.',
    body: jsonBody(BootstrapTokenCreateSchema),
    response: created(BootstrapTokenCreatedSchema),
  },
  listBootstrapTokens: {
    method: 'GET',
    path: '/v1/tokens',
    caller: 'operator',
    resource: 'tokens',
    summary: 'Lists bootstrap tokens (without their secrets).',
    response: json(BootstrapTokenListSchema),
  },
  deleteBootstrapToken: {
    method: 'DELETE',
    path: '/v1/tokens/:id',
    caller: 'operator',
    resource: 'tokens',
    summary: 'Deletes a bootstrap token.',
    params: IdParams,
    response: noContent,
  },
  createProvisionBatch: {
    method: 'POST',
    path: '/v1/provision/batches',
    caller: 'operator',
    resource: 'tokens',
    summary:
      "Mints one one-use bootstrap token per device of a device list (`edgefleet provision`), each with its device's site and labels and bound to its board serial or hostname; the token texts are shown only here.",
    body: jsonBody(ProvisionBatchCreateSchema),
    response: created(ProvisionBatchCreatedSchema),
  },
  provisionBatchStatus: {
    method: 'GET',
    path: '/v1/provision/batches/:id',
    caller: 'viewer',
    resource: 'tokens',
    summary: 'Which devices of a provisioning batch have enrolled (and as which node), which are pending, and whose token expired unused.',
    params: IdParams,
    response: json(ProvisionBatchStatusSchema),
  },
  createApiToken: {
    method: 'POST',
    path: '/v1/apitokens',
    caller: 'admin',
    resource: 'tokens',
    summary: 'Creates an API token of a role; the token text is shown only here.',
    body: jsonBody(ApiTokenCreateSchema),
    response: created(ApiTokenCreatedSchema),
  },
  listApiTokens: {
    method: 'GET',
    path: '/v1/apitokens',
    caller: 'admin',
    resource: 'tokens',
    summary: 'Lists API tokens (without their secrets).',
    response: json(ApiTokenListSchema),
  },
  deleteApiToken: {
    method: 'DELETE',
    path: '/v1/apitokens/:id',
    caller: 'admin',
    resource: 'tokens',
    summary: 'Deletes an API token; the last admin token cannot be deleted.',
    params: IdParams,
    response: noContent,
  },
  audit: {
    method: 'GET',
    path: '/v1/audit',
    caller: 'operator',
    resource: 'audit',
    summary: 'The newest audit entries, newest first (operators: it names every token and change; a site-scoped token sees only its own entries).',
    query: z.object({
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      /** Only entries at or after this time (ISO 8601). */
      since: z.iso.datetime({ offset: true }).optional(),
    }),
    response: json(AuditListSchema),
  },

  // --- artifacts ---
  pushArtifact: {
    method: 'POST',
    path: '/v1/artifacts',
    caller: 'operator',
    resource: 'artifacts',
    summary: "Stores a file in the server's content-addressed store; the server computes its digest.",
    body: { kind: 'binary', contentType: 'application/octet-stream', description: 'the file itself', maxBytes: ARTIFACT_BODY_LIMIT_BYTES },
    response: created(ArtifactInfoSchema),
  },
  listArtifacts: {
    method: 'GET',
    path: '/v1/artifacts',
    caller: 'viewer',
    resource: 'artifacts',
    summary: 'Lists stored artifacts.',
    response: json(ArtifactListSchema),
  },
  downloadArtifact: {
    method: 'GET',
    path: '/v1/artifacts/:digest',
    wildcard: true,
    caller: ['node', 'viewer'],
    resource: 'artifacts',
    summary: 'Downloads an artifact; `Range: bytes=N-` resumes (206), `If-None-Match` with its ETag answers 304.',
    params: DigestParams,
    response: { kind: 'bytes', status: 200, contentType: 'application/octet-stream', description: 'the artifact (immutable; ETag is its digest)' },
  },
  headArtifact: {
    method: 'HEAD',
    path: '/v1/artifacts/:digest',
    wildcard: true,
    caller: ['node', 'viewer'],
    resource: 'artifacts',
    summary: "An artifact's size and ETag, without its bytes.",
    params: DigestParams,
    response: { kind: 'bytes', status: 200, contentType: 'application/octet-stream', description: 'headers only' },
  },

  // --- deployments ---
  apply: {
    method: 'POST',
    path: '/v1/apply',
    caller: 'operator',
    resource: 'deployments',
    summary: 'Applies Deployment manifests as one unit (all or none).',
    body: jsonBody(ApplyRequestSchema),
    response: json(ApplyResponseSchema),
  },
  listDeployments: {
    method: 'GET',
    path: '/v1/deployments',
    caller: 'viewer',
    resource: 'deployments',
    summary: 'Lists deployments with their status.',
    response: json(DeploymentListSchema),
  },
  getDeployment: {
    method: 'GET',
    path: '/v1/deployments/:name',
    caller: 'viewer',
    resource: 'deployments',
    summary: 'One deployment: its manifest and the status its nodes reported.',
    params: NameParams,
    response: json(DeploymentViewSchema),
  },
  listRevisions: {
    method: 'GET',
    path: '/v1/deployments/:name/revisions',
    caller: 'viewer',
    resource: 'deployments',
    summary: "A deployment's release revisions.",
    params: NameParams,
    response: json(RevisionListSchema),
  },
  deploymentLatency: {
    method: 'GET',
    path: '/v1/deployments/:name/latency',
    caller: 'viewer',
    resource: 'deployments',
    summary:
      "A deployment's hourly latency history: requests, errors, P50/P95/P99 per hour and revision (per site with `bySite=true`), kept 30 days. `since` is a duration (default 7d).",
    params: NameParams,
    query: z.object({
      since: z.string().max(64).default('7d'),
      site: z.string().max(253).optional(),
      revision: z.coerce.number().int().positive().optional(),
      bySite: z.enum(['true', 'false']).default('false'),
    }),
    response: json(LatencyHistorySchema),
  },
  deleteDeployment: {
    method: 'DELETE',
    path: '/v1/deployments/:name',
    caller: 'operator',
    resource: 'deployments',
    summary: 'Deletes a deployment applied by hand (a GitOps source prunes its own).',
    params: NameParams,
    response: noContent,
  },
  listKeys: {
    method: 'GET',
    path: '/v1/keys',
    caller: 'viewer',
    resource: 'deployments',
    summary: 'Lists the trusted release signing keys.',
    response: json(z.object({ items: z.array(TrustedKeySchema) })),
  },
  trustKey: {
    method: 'POST',
    path: '/v1/keys',
    caller: 'admin',
    resource: 'deployments',
    summary: 'Trusts a release public key (201; 200 with the existing key when already trusted); after the first, a new key must be endorsed by a trusted one.',
    body: jsonBody(TrustKeyRequestSchema),
    response: created(TrustedKeySchema),
  },
  revokeKey: {
    method: 'POST',
    path: '/v1/keys/:keyId/revoke',
    caller: 'admin',
    resource: 'deployments',
    summary:
      'Revokes a release key with a revocation signed by another live trusted key; every node then refuses the releases it signed. Idempotent (the stored revocation is returned).',
    params: KeyIdParams,
    body: jsonBody(KeyRevocationSchema),
    response: json(RevokeKeyResponseSchema),
  },

  // --- rollouts ---
  rolloutStatus: {
    method: 'GET',
    path: '/v1/deployments/:name/rollout',
    caller: 'viewer',
    resource: 'rollouts',
    summary: "A deployment's staged rollout: phase, step, node counts, the latest gate evaluation.",
    params: NameParams,
    response: json(RolloutStatusSchema),
  },
  rolloutCommand: {
    method: 'POST',
    path: '/v1/deployments/:name/rollout/:command',
    caller: 'operator',
    resource: 'rollouts',
    summary: 'Sends a command to a rollout: pause, resume, promote (`full`), abort, undo (`now`).',
    params: z.object({ name: z.string().min(1), command: RolloutCommandSchema }),
    body: jsonBody(RolloutCommandOptionsSchema),
    response: json(RolloutCommandAcceptedSchema),
  },
  events: {
    method: 'GET',
    path: '/v1/events',
    caller: 'viewer',
    resource: 'rollouts',
    summary: 'Rollout decisions, oldest first.',
    query: z.object({ deployment: z.string().optional(), limit: z.coerce.number().int().min(1).max(10_000).default(500) }),
    response: json(RolloutEventListSchema),
  },

  // --- GitOps sources ---
  createSource: {
    method: 'POST',
    path: '/v1/sources',
    caller: 'operator',
    resource: 'sources',
    summary: 'Adds a git repository (http(s) URL or absolute path on the server) whose manifests the server applies.',
    body: jsonBody(SourceCreateSchema),
    response: created(SourceViewSchema),
  },
  listSources: {
    method: 'GET',
    path: '/v1/sources',
    caller: 'viewer',
    resource: 'sources',
    summary: 'Lists GitOps sources with their status.',
    response: json(SourceListSchema),
  },
  getSource: {
    method: 'GET',
    path: '/v1/sources/:name',
    caller: 'viewer',
    resource: 'sources',
    summary: 'One GitOps source.',
    params: NameParams,
    response: json(SourceViewSchema),
  },
  deleteSource: {
    method: 'DELETE',
    path: '/v1/sources/:name',
    caller: 'operator',
    resource: 'sources',
    summary: 'Deletes a source; the deployments it applied are pruned.',
    params: NameParams,
    response: noContent,
  },
  syncSource: {
    method: 'POST',
    path: '/v1/sources/:name/sync',
    caller: 'operator',
    resource: 'sources',
    summary: 'Polls the source now and answers its status after the attempt.',
    params: NameParams,
    response: json(SourceViewSchema),
  },

  // --- container registries ---
  createRegistry: {
    method: 'POST',
    path: '/v1/registries',
    caller: 'operator',
    resource: 'registries',
    summary:
      'Adds a container registry (address, CA, pull credentials), or replaces the one of that name entirely (201). The password is stored encrypted and never answered; only nodes whose desired state uses the registry receive it. Fleet-wide tokens only; 409 when another registry has the host.',
    body: jsonBody(RegistryCreateSchema),
    response: created(RegistryPutResponseSchema),
  },
  listRegistries: {
    method: 'GET',
    path: '/v1/registries',
    caller: 'viewer',
    resource: 'registries',
    summary: 'Lists container registries: address, user name, whether a password is set and the CA certificates, never the password.',
    response: json(RegistryListSchema),
  },
  deleteRegistry: {
    method: 'DELETE',
    path: '/v1/registries/:name',
    caller: 'operator',
    resource: 'registries',
    summary:
      'Deletes a container registry; allowed while deployments still pull from it (they are named, with a warning: nodes keep the images they hold, new pulls go without its credentials and CA). Fleet-wide tokens only.',
    params: NameParams,
    response: json(RegistryDeleteResponseSchema),
  },

  // --- the dashboard ---
  watch: {
    method: 'GET',
    path: '/v1/watch',
    caller: 'viewer',
    resource: 'dashboard',
    summary: "Live changes as server-sent events: `hello`, then changes in the list routes' shapes. The token goes in the Authorization header only.",
    response: { kind: 'sse', status: 200, events: WatchEventSchemas },
  },
  dashboardIndex: {
    method: 'GET',
    path: '/',
    caller: 'public',
    resource: 'dashboard',
    summary: 'The dashboard (static files; it signs in with an API token).',
    response: { kind: 'static', status: 200 },
  },
  dashboardFiles: {
    method: 'GET',
    path: '/*',
    caller: 'public',
    resource: 'dashboard',
    summary: "The dashboard's files; any other path not under /v1 gets its index.html.",
    response: { kind: 'static', status: 200 },
  },
} as const satisfies Record<string, RouteSpec>;

/** The route table's type. */
export type Routes = typeof routes;
/** A route's name in the table. */
export type RouteName = keyof Routes;

/** Every caller kind that may call `route` (one or more). */
export function callersOf(route: RouteSpec): readonly CallerKind[] {
  return typeof route.caller === 'string' ? [route.caller] : route.caller;
}

/** The path to register with the router: `:param` as written, or `*` for a wildcard route. */
export function routerPath(route: RouteSpec): string {
  return route.wildcard === true ? route.path.replace(/:[A-Za-z]+$/, '*') : route.path;
}

/** The routes in table order, with their names. */
export function routeList(): Array<RouteSpec & { name: RouteName }> {
  return (Object.keys(routes) as RouteName[]).map((name) => ({ name, ...(routes[name] as RouteSpec) }));
}

/** The JSON response type of a route (`ResponseOf<'rolloutStatus'>`). */
export type ResponseOf<N extends RouteName> = Routes[N]['response'] extends { kind: 'json'; schema: infer S extends z.ZodType } ? z.output<S> : never;

/** A route's path params as the server gets them after parsing (`{}` without params). */
export type ParamsOf<N extends RouteName> = Routes[N] extends { params: infer P extends z.ZodType } ? z.output<P> : Record<string, never>;
/** A route's query as the server gets it after parsing, defaults applied (`{}` without a query). */
export type QueryOf<N extends RouteName> = Routes[N] extends { query: infer Q extends z.ZodType } ? z.output<Q> : Record<string, never>;
/** A route's JSON body as the server gets it after parsing; `unknown` for a binary body. */
export type BodyOf<N extends RouteName> = Routes[N] extends { body: { kind: 'json'; schema: infer B extends z.ZodType } } ? z.output<B> : unknown;
/** What a handler of a JSON route returns: its response schema's input (serialised by that schema). */
export type ReplyOf<N extends RouteName> = Routes[N]['response'] extends { kind: 'json'; schema: infer S extends z.ZodType } ? z.input<S> : unknown;
