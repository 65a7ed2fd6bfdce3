/**
 * The API's response shapes that are not also request shapes: how the server shows
 * deployments, rollouts, sources, revisions, the event journal, the audit log and the
 * watch stream. Each is written once, here, as a zod schema; the route table
 * (`routes.ts`) refers to them and every consumer uses the inferred types.
 */
import { z } from 'zod';
import { TrustedKeySchema, WorkloadStateSchema } from '../desired.js';
import { EdgefleetError } from '../errors.js';
import { LabelsSchema } from '../labels-schema.js';
import { DeploymentSpecSchema, ReleaseSchema } from '../manifest.js';
import { AlertViewSchema } from '../telemetry/api.js';
import { BoardSerialSchema, HostnameSchema, NodeSchema, RoleSchema } from '../wire.js';

/** Whoever may call a route: nobody in particular, an enrolled node (mTLS), or an API token of at least a role. */
export const CallerKindSchema = z.enum(['public', 'node', 'viewer', 'operator', 'admin']);
/** Who may call a route (see {@link CallerKindSchema}). */
export type CallerKind = z.infer<typeof CallerKindSchema>;

// --- deployments ---

/**
 * When a condition last changed and the revision it was observed at; set on a rollout's
 * `Stalled` condition (the controller cannot read or plan the rollout).
 */
const ConditionTransition = {
  /** ISO 8601. */
  lastTransitionTime: z.string().optional(),
  observedRevision: z.number().optional(),
};

/**
 * A condition of a deployment's status, with a reason from a closed set. `Stalled` is true
 * when its revision failed on nodes (`NodeFailures`) or its rollout cannot go on
 * (`RolloutStateInvalid`, `PlanningFailed`).
 */
export const DeploymentConditionSchema = z.object({
  type: z.enum(['Ready', 'Reconciling', 'Stalled']),
  status: z.enum(['True', 'False']),
  reason: z.string(),
  message: z.string(),
  ...ConditionTransition,
});
export type DeploymentCondition = z.infer<typeof DeploymentConditionSchema>;

/** One node's line in a deployment's status (the `deployments get -o json` contract). */
export const NodeWorkloadLineSchema = z.object({
  node: z.string(),
  nodeId: z.string(),
  revision: z.number().nullable(),
  state: WorkloadStateSchema,
  reason: z.string().nullable(),
  endpoint: z.string().nullable(),
  message: z.string().nullable(),
});
export type NodeWorkloadLine = z.infer<typeof NodeWorkloadLineSchema>;

/** What a deployment's nodes reported, summed up. */
export const DeploymentStatusSchema = z.object({
  revision: z.number(),
  generation: z.number(),
  observedGeneration: z.number(),
  conditions: z.array(DeploymentConditionSchema),
  nodes: z.array(NodeWorkloadLineSchema),
});
export type DeploymentStatus = z.infer<typeof DeploymentStatusSchema>;

/** A deployment as the API shows it: its manifest (defaults applied) plus status. */
export const DeploymentViewSchema = z.object({
  apiVersion: z.literal('edgefleet.dev/v1'),
  kind: z.literal('Deployment'),
  metadata: z.object({
    name: z.string(),
    generation: z.number(),
    /** The GitOps source that applied it; null when applied by hand. */
    source: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  }),
  spec: DeploymentSpecSchema,
  status: DeploymentStatusSchema,
});
export type DeploymentView = z.infer<typeof DeploymentViewSchema>;

export const DeploymentListSchema = z.object({ items: z.array(DeploymentViewSchema) });
export type DeploymentList = z.infer<typeof DeploymentListSchema>;

/** `POST /v1/apply`: manifests (validated by the server) and where each came from. */
export const ApplyRequestSchema = z.object({
  manifests: z.array(z.unknown()).min(1).max(500),
  /** Where each manifest came from (`file:line`), for messages. */
  origins: z.array(z.string()).optional(),
});
export type ApplyRequest = z.infer<typeof ApplyRequestSchema>;

/** What an apply did to one deployment. */
export const ApplyResultSchema = z.object({
  name: z.string(),
  result: z.enum(['created', 'configured', 'unchanged']),
  revision: z.number(),
  generation: z.number(),
});
export type ApplyResult = z.infer<typeof ApplyResultSchema>;
export const ApplyResponseSchema = z.object({ results: z.array(ApplyResultSchema) });
export type ApplyResponse = z.infer<typeof ApplyResponseSchema>;

/** One revision of a deployment's release. */
export const RevisionViewSchema = z.object({
  revision: z.number(),
  releaseDigest: z.string(),
  /** The git commit that applied it (GitOps), else null. */
  commit: z.string().nullable(),
  createdAt: z.string(),
  release: ReleaseSchema,
});
export type RevisionView = z.infer<typeof RevisionViewSchema>;
export const RevisionListSchema = z.object({ items: z.array(RevisionViewSchema) });

/** Latency quantiles in milliseconds (from merged histograms: within 1 % of the exact values). */
const LatencyQuantilesShape = {
  /** Requests answered, errors included. */
  requests: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  p50Ms: z.number(),
  p95Ms: z.number(),
  p99Ms: z.number(),
};

/** One hour of a deployment's latency history: one revision, at one site or all of them. */
export const LatencyHourSchema = z.object({
  /** Start of the hour, ISO 8601 UTC. */
  hour: z.string(),
  revision: z.number().int().positive(),
  /** The site (`geolocation.site`; "" for nodes without one) with `bySite`, else null: every site merged. */
  site: z.string().nullable(),
  ...LatencyQuantilesShape,
});
export type LatencyHour = z.infer<typeof LatencyHourSchema>;

/** One revision over the whole window (its hours merged). */
export const LatencyRevisionSummarySchema = z.object({
  revision: z.number().int().positive(),
  /** Hours with traffic. */
  hours: z.number().int().nonnegative(),
  /** Sites it served at (`geolocation.site`; "" for nodes without one). */
  sites: z.array(z.string()),
  ...LatencyQuantilesShape,
});
export type LatencyRevisionSummary = z.infer<typeof LatencyRevisionSummarySchema>;

/**
 * `GET /v1/deployments/:name/latency`: hourly P50/P95/P99 with requests and errors per
 * revision (and per site with `bySite`), oldest hour first, from the server's history
 * (30 days at most; docs/TELEMETRY.md).
 */
export const LatencyHistorySchema = z.object({
  deployment: z.string(),
  /** The deployment's current revision. */
  revision: z.number().int().positive(),
  /** The window: from the start of the hour `since` ago to now (ISO 8601 UTC). */
  since: z.string(),
  until: z.string(),
  /** Length of one row's bucket (3600). */
  bucketSeconds: z.number().int().positive(),
  /** The site asked for, else null. */
  site: z.string().nullable(),
  bySite: z.boolean(),
  hours: z.array(LatencyHourSchema),
  revisions: z.array(LatencyRevisionSummarySchema),
});
export type LatencyHistory = z.infer<typeof LatencyHistorySchema>;

/**
 * `POST /v1/keys`: a release public key with its expiry, endorsed over both by a trusted key
 * (the first key by itself; see release-rules.ts `keyEndorsementText`).
 */
export const TrustKeyRequestSchema = z.object({
  publicKey: z.string().min(1),
  signedBy: z.string().optional(),
  signature: z.string().optional(),
  /** ISO 8601 UTC with milliseconds, as signed. */
  expiresAt: z.string().optional(),
});
export type TrustKeyRequest = z.infer<typeof TrustKeyRequestSchema>;

/** `POST /v1/keys/:keyId/revoke`: the revoked key, and the deployments whose current release it signed (nodes now refuse them). */
export const RevokeKeyResponseSchema = z.object({
  key: TrustedKeySchema,
  /** Deployments whose current revision the revoked key signed: sign them again with a live key and apply. */
  stillSigned: z.array(z.string()),
});
export type RevokeKeyResponse = z.infer<typeof RevokeKeyResponseSchema>;

// --- rollouts ---

/** A rollout's phase; `Stalled`: its stored state is unreadable, so its phase is unknown (see the Stalled condition). */
export const RolloutPhaseSchema = z.enum(['Progressing', 'Holding', 'Paused', 'Succeeded', 'RolledBack', 'Aborted', 'Stalled']);
export type RolloutPhase = z.infer<typeof RolloutPhaseSchema>;

/** The outcome's reason: `GatesPassed`, `InsufficientData`, or the first failed gate's. */
export const GateReasonSchema = z.enum([
  'GatesPassed',
  'InsufficientData',
  'RestartsExceeded',
  'FallbackRateExceeded',
  'ErrorRateExceeded',
  'P95LatencyExceeded',
  'P50LatencyRatioExceeded',
  'P95LatencyRatioExceeded',
  'P99LatencyRatioExceeded',
  /** Enough data after warm-up, but no gate's interval decides yet: collecting more. */
  'Undecided',
]);
export type GateReason = z.infer<typeof GateReasonSchema>;

/** What a gate evaluation measured (null: not measurable from the data present). */
export const GateMeasuredSchema = z.object({
  canaryNodes: z.number(),
  canaryRequests: z.number(),
  canaryErrors: z.number(),
  errorRate: z.number().nullable(),
  maxRestarts: z.number(),
  fallbackRate: z.number().nullable(),
  p95LatencyMs: z.number().nullable(),
  baselineNodes: z.number(),
  baselineRequests: z.number(),
  baselineP95LatencyMs: z.number().nullable(),
  p95LatencyRatio: z.number().nullable(),
  cohortsCompared: z.number(),
  cohortsOnFleetBaseline: z.number(),
  /** Canary requests left out as warm-up (absent in evaluations recorded before warm-up existed). */
  warmupRequests: z.number().optional(),
  /** Canary nodes all of whose in-window samples were warm-up. */
  warmingNodes: z.number().optional(),
});
export type GateMeasured = z.infer<typeof GateMeasuredSchema>;

/** The thresholds a gate applied (`p95LatencyRatio` null when there is no baseline). */
export const GateThresholdsSchema = z.object({
  minRequests: z.number(),
  p95LatencyRatio: z.number().nullable(),
  maxP95LatencyMs: z.number().nullable(),
  maxErrorRate: z.number(),
  maxRestarts: z.number(),
  maxFallbackRate: z.number(),
  // Absent in evaluations recorded before statistical gates existed.
  p50LatencyRatio: z.number().nullable().optional(),
  p99LatencyRatio: z.number().nullable().optional(),
  minLatencyDeltaMs: z.number().optional(),
  confidence: z.number().optional(),
  failureThreshold: z.number().optional(),
});
export type GateThresholds = z.infer<typeof GateThresholdsSchema>;

export const GateResultSchema = z.enum(['pass', 'fail', 'hold']);

/** A gate by its field name under `spec.rollout.gates`. */
export const GateNameSchema = z.enum([
  'p50LatencyRatio',
  'p95LatencyRatio',
  'p99LatencyRatio',
  'maxP95LatencyMs',
  'maxErrorRate',
  'maxRestarts',
  'maxFallbackRate',
]);
export type GateName = z.infer<typeof GateNameSchema>;

/**
 * One gate's verdict in one evaluation. `passing`: the regression is ruled out at the
 * confidence; `failing`: established at it (the step fails after `failureThreshold`
 * consecutive failing evaluations); `undecided`: the interval straddles the threshold,
 * collecting more; `insufficient-data`: fewer than `minRequests` after warm-up on a side.
 */
export const GateVerdictSchema = z.object({
  gate: GateNameSchema,
  verdict: z.enum(['passing', 'failing', 'undecided', 'insufficient-data']),
  /**
   * The judged quantity: a ratio canary/baseline (latency ratio gates), ms (maxP95LatencyMs),
   * a share 0 … 1 (error rate: the canary's; fallback rate), a count (restarts). Null: not measurable.
   */
  estimate: z.number().nullable(),
  /** Its interval at `confidence` (null for counts and when not measurable). */
  interval: z.object({ low: z.number(), high: z.number() }).nullable(),
  /** 0 … 1; null for gates judged without statistics (restarts, fallback rate). */
  confidence: z.number().nullable(),
  /** The gate's threshold (for maxErrorRate: the rate judged against, baseline rate + maxErrorRate). */
  threshold: z.number(),
  /** Canary side: nodes, requests after warm-up, and its value (P95 ms for a P95 gate, error rate, …). */
  canary: z.object({ nodes: z.number(), requests: z.number(), value: z.number().nullable() }),
  /** Baseline side; null for gates judged on the canary alone. */
  baseline: z.object({ nodes: z.number(), requests: z.number(), value: z.number().nullable() }).nullable(),
  /** Failing evaluations in a row so far, this one included (0 unless failing). */
  consecutiveFailures: z.number(),
  /** In plain words: "P95 ratio 1.08 (0.97–1.21 at 95 %), threshold 1.5: passing". */
  message: z.string(),
});
export type GateVerdict = z.infer<typeof GateVerdictSchema>;

/**
 * A condition of a rollout. `Ready`: succeeded. `Progressing`: moves or waits to move.
 * `GatesPassing`: the latest gate evaluation. `Stalled` (only while true): the controller
 * cannot read or plan the rollout (`RolloutStateInvalid`, `PlanningFailed`).
 */
export const RolloutConditionSchema = z.object({
  type: z.enum(['Ready', 'Progressing', 'GatesPassing', 'Stalled']),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
  ...ConditionTransition,
});
export type RolloutCondition = z.infer<typeof RolloutConditionSchema>;

/** Node counts; every targeted node is in exactly one bucket, so they add up to `total`. */
export const RolloutNodeCountsSchema = z.object({
  total: z.number(),
  updated: z.number(),
  pending: z.number(),
  deferred: z.number(),
  failed: z.number(),
  rolledBack: z.number(),
});
export type RolloutNodeCounts = z.infer<typeof RolloutNodeCountsSchema>;

/** A rollout's state and its nodes: the `rollout status -o json` contract. */
export const RolloutStatusSchema = z.object({
  deployment: z.string(),
  /** The revision the rollout moves to. */
  revision: z.number(),
  fromRevision: z.number().nullable(),
  phase: RolloutPhaseSchema,
  /** Current step, 1-based ("step 2 of 4"). */
  step: z.number(),
  steps: z.number(),
  nodes: RolloutNodeCountsSchema,
  /** The latest gate evaluation; null before the first. */
  gate: z
    .object({
      evaluatedAt: z.string(),
      result: GateResultSchema,
      reason: GateReasonSchema,
      measured: GateMeasuredSchema,
      thresholds: GateThresholdsSchema,
      /** One line for people (the same as the GatesPassing condition's message). */
      message: z.string(),
      /** Per gate: sample sizes, estimate with its interval, threshold, verdict. */
      gates: z.array(GateVerdictSchema),
    })
    .nullable(),
  conditions: z.array(RolloutConditionSchema),
});
export type RolloutStatus = z.infer<typeof RolloutStatusSchema>;

export const RolloutCommandSchema = z.enum(['pause', 'resume', 'promote', 'abort', 'undo']);
/** An operator command to a rollout. */
export type RolloutCommand = z.infer<typeof RolloutCommandSchema>;

/** Options of a rollout command: `promote --full`, `undo --now`. */
export const RolloutCommandOptionsSchema = z.object({ full: z.boolean().optional(), now: z.boolean().optional() }).strict();
export type RolloutCommandOptions = z.infer<typeof RolloutCommandOptionsSchema>;

export const RolloutCommandAcceptedSchema = z.object({ deployment: z.string(), command: RolloutCommandSchema, accepted: z.literal(true) });
export type RolloutCommandAccepted = z.infer<typeof RolloutCommandAcceptedSchema>;

/** One entry of the rollout journal (`GET /v1/events`): a decision the controller made. */
export const RolloutEventViewSchema = z.looseObject({
  deployment: z.string(),
  seq: z.number(),
  /** ISO 8601. */
  time: z.string(),
  /** ms since the epoch (the same instant as `time`). */
  at: z.number(),
  type: z.string(),
  /** The revision the rollout moves to. */
  revision: z.number(),
  /** 1-based step number. */
  step: z.number(),
  message: z.string(),
  /** Nodes the event is about (deferred, returned, rolled back). */
  nodeIds: z.array(z.string()).optional(),
  /** The gate evaluation behind a GatePassed / GateFailed / rollback event (times in ms). */
  gate: z
    .looseObject({
      result: GateResultSchema,
      reason: GateReasonSchema,
      message: z.string(),
      evaluatedAt: z.number(),
      measured: GateMeasuredSchema,
      thresholds: GateThresholdsSchema,
      /** Per gate verdicts (absent in events recorded before statistical gates existed). */
      gates: z.array(GateVerdictSchema).optional(),
    })
    .optional(),
});
export type RolloutEventView = z.infer<typeof RolloutEventViewSchema>;
export const RolloutEventListSchema = z.object({ items: z.array(RolloutEventViewSchema) });

// --- sources ---

export const SourceConditionSchema = z.object({
  type: z.enum(['Ready', 'Stalled', 'Reconciling']),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string(),
  message: z.string(),
});

/** A GitOps source as the API shows it. */
export const SourceViewSchema = z.object({
  name: z.string(),
  /** The repository URL, credentials redacted. */
  url: z.string(),
  branch: z.string(),
  path: z.string(),
  /** Polling interval as a duration, `30s`. */
  interval: z.string(),
  lastAppliedRevision: z.string().nullable(),
  lastAttemptedRevision: z.string().nullable(),
  conditions: z.array(SourceConditionSchema),
  lastSyncAt: z.string().nullable(),
});
export type SourceView = z.infer<typeof SourceViewSchema>;
export const SourceListSchema = z.object({ items: z.array(SourceViewSchema) });

/** `POST /v1/sources`: a git repository (http(s) URL or absolute path on the server). */
export const SourceCreateSchema = z.object({
  name: z.string().min(1).max(63),
  url: z.string().min(1).max(2048),
  branch: z.string().min(1).max(200).optional(),
  path: z.string().max(1024).optional(),
  interval: z.string().min(1).max(32).optional(),
});
export type SourceCreate = z.infer<typeof SourceCreateSchema>;

// --- audit, identity, telemetry reads ---

/** One entry of the audit log. */
export const AuditEntrySchema = z.object({
  at: z.string(),
  /** `token:<id>` for an operator, `node:<id>` for an agent. */
  actor: z.string(),
  action: z.string(),
  target: z.string(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
export const AuditListSchema = z.object({ items: z.array(AuditEntrySchema) });

/** `GET /v1/nodes/:ref/certificates`: every certificate issued to a node, newest first. */
export const NodeCertificateListSchema = z.object({
  items: z.array(
    z.object({
      serial: z.string(),
      issuedAt: z.string(),
      notAfter: z.string(),
      /** When a request first presented it; its first use revoked the node's other certificates. */
      firstUsedAt: z.string().nullable(),
      revokedAt: z.string().nullable(),
      /** `superseded`, `reenrolled`, `operator` or `decommissioned`; null when not revoked (or revoked before reasons were kept). */
      revokedReason: z.string().nullable(),
    }),
  ),
});
export type NodeCertificateList = z.infer<typeof NodeCertificateListSchema>;

/** `GET /v1/whoami`: the caller's role (which buttons the dashboard shows). */
export const WhoamiSchema = z.object({
  role: RoleSchema,
  tokenId: z.string(),
  /** The sites the token is limited to (it sees and changes only their nodes); null: the whole fleet. */
  sites: z.array(z.string()).nullable().default(null),
});
export type Whoami = z.infer<typeof WhoamiSchema>;

/** `GET /v1/telemetry/latest?name=`: one metric's latest value per node. */
export const LatestValuesSchema = z.object({
  name: z.string(),
  items: z.array(z.object({ nodeId: z.string(), value: z.number(), t: z.number() })),
});
export type LatestValues = z.infer<typeof LatestValuesSchema>;

export const HealthzSchema = z.object({ ok: z.literal(true) });

// --- the watch stream ---

/** A keyed change: items to insert or replace, keys to drop. */
function upserts<T extends z.ZodType>(item: T) {
  return z.object({ upserted: z.array(item), deleted: z.array(z.string()) });
}
/** A keyed change from the watch stream. */
export interface Upserts<T> {
  upserted: T[];
  deleted: string[];
}

/** What `GET /v1/watch` sends, by SSE event name: after `hello`, changes in the list routes' shapes. */
export const WatchEventSchemas = {
  hello: z.object({ pollMs: z.number(), heartbeatMs: z.number(), role: RoleSchema }),
  nodes: upserts(NodeSchema),
  deployments: upserts(DeploymentViewSchema),
  rollouts: upserts(RolloutStatusSchema),
  alerts: z.object({ items: z.array(AlertViewSchema) }),
  events: z.object({ items: z.array(RolloutEventViewSchema) }),
  audit: z.object({ items: z.array(AuditEntrySchema) }),
} as const;
/** The SSE event names of the watch stream. */
export type WatchEventName = keyof typeof WatchEventSchemas;
/** One watch event, discriminated by `kind` (the SSE event name). */
export type WatchEvent = { [K in WatchEventName]: { kind: K; data: z.infer<(typeof WatchEventSchemas)[K]> } }[WatchEventName];

/** Validates one watch event's data with its schema; a mismatch is an `unexpected_response`. */
function readWatchData<S extends z.ZodType>(schema: S, name: string, data: unknown): z.output<S> {
  const parsed = schema.safeParse(data);
  if (parsed.success) return parsed.data;
  throw new EdgefleetError({
    code: 'unexpected_response',
    message: `unexpected "${name}" event from GET /v1/watch: ${parsed.error.issues[0]?.message ?? 'invalid data'}`,
    hint: 'the server and this client may be different versions; upgrade the older one (reload the dashboard)',
  });
}

/** Each event name's reader: the compiler checks that every event of the stream is handled. */
const WATCH_READERS: { [K in WatchEventName]: (data: unknown) => WatchEvent } = {
  hello: (d) => ({ kind: 'hello', data: readWatchData(WatchEventSchemas.hello, 'hello', d) }),
  nodes: (d) => ({ kind: 'nodes', data: readWatchData(WatchEventSchemas.nodes, 'nodes', d) }),
  deployments: (d) => ({ kind: 'deployments', data: readWatchData(WatchEventSchemas.deployments, 'deployments', d) }),
  rollouts: (d) => ({ kind: 'rollouts', data: readWatchData(WatchEventSchemas.rollouts, 'rollouts', d) }),
  alerts: (d) => ({ kind: 'alerts', data: readWatchData(WatchEventSchemas.alerts, 'alerts', d) }),
  events: (d) => ({ kind: 'events', data: readWatchData(WatchEventSchemas.events, 'events', d) }),
  audit: (d) => ({ kind: 'audit', data: readWatchData(WatchEventSchemas.audit, 'audit', d) }),
};

/**
 * One message of the watch stream as a typed event, its data (already JSON-parsed)
 * validated by that event's schema; undefined for an event name this client does not know
 * (a newer server). Throws an `unexpected_response` EdgefleetError when the data does not fit.
 */
export function parseWatchEvent(name: string, data: unknown): WatchEvent | undefined {
  if (!Object.hasOwn(WATCH_READERS, name)) return undefined;
  return WATCH_READERS[name as WatchEventName](data);
}

// --- provisioning (edgefleet provision) ---

/** At most this many devices per batch: one request, one transaction. */
export const MAX_PROVISION_BATCH = 1000;

/** One device of a provisioning batch, as the operator's device list names it. */
export const ProvisionDeviceSchema = z
  .object({
    /** Board serial the device's token is bound to; at least one of serial and hostname. */
    serial: BoardSerialSchema.optional(),
    /** Hostname the device gets and its token is bound to. */
    hostname: HostnameSchema.optional(),
    /** Its site (label geolocation.site). */
    site: z.string().min(1).max(63),
    labels: LabelsSchema.optional(),
  })
  .strict()
  .refine((d) => d.serial !== undefined || d.hostname !== undefined, { message: 'a device needs a serial or a hostname' });
export type ProvisionDevice = z.infer<typeof ProvisionDeviceSchema>;

/** `POST /v1/provision/batches`: one one-use token per device, all minted together. */
export const ProvisionBatchCreateSchema = z
  .object({
    devices: z.array(ProvisionDeviceSchema).min(1).max(MAX_PROVISION_BATCH),
    /** Lifetime of every token in seconds; default 14 days, at most 30. */
    ttlSeconds: z.number().int().positive().optional(),
    /** SHA-256 (hex) of the fleet's root release key, which every token names for its node to pin. */
    releaseKeyFingerprint: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits: the SHA-256 of the raw release key')
      .optional(),
  })
  .strict();
export type ProvisionBatchCreate = z.infer<typeof ProvisionBatchCreateSchema>;

/** One device's token as minted: the token text is in this answer only. */
export const ProvisionedDeviceSchema = z.object({
  serial: z.string().nullable(),
  hostname: z.string().nullable(),
  site: z.string(),
  labels: z.record(z.string(), z.string()),
  tokenId: z.string(),
  token: z.string(),
});
export type ProvisionedDevice = z.infer<typeof ProvisionedDeviceSchema>;

/** The answer to a batch creation, devices in the request's order. */
export const ProvisionBatchCreatedSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  expiresAt: z.string(),
  devices: z.array(ProvisionedDeviceSchema),
});
export type ProvisionBatchCreated = z.infer<typeof ProvisionBatchCreatedSchema>;

/** Where one device of a batch is: its node enrolled, its token still waiting, or expired unused. */
export const ProvisionDeviceStateSchema = z.enum(['enrolled', 'pending', 'expired']);

/** One device of a batch as `provision status` shows it (never its token's secret). */
export const ProvisionDeviceStatusSchema = z.object({
  serial: z.string().nullable(),
  hostname: z.string().nullable(),
  site: z.string(),
  tokenId: z.string(),
  state: ProvisionDeviceStateSchema,
  /** The node its token enrolled (id and name; the name as it is now, or null if the node was deleted). */
  node: z.object({ id: z.string(), name: z.string().nullable() }).nullable(),
  enrolledAt: z.string().nullable(),
  expiresAt: z.string(),
});
export type ProvisionDeviceStatus = z.infer<typeof ProvisionDeviceStatusSchema>;

/** `GET /v1/provision/batches/:id`: every device of the batch the caller may see. */
export const ProvisionBatchStatusSchema = z.object({
  id: z.string(),
  createdAt: z.string(),
  counts: z.object({ enrolled: z.number().int(), pending: z.number().int(), expired: z.number().int() }),
  devices: z.array(ProvisionDeviceStatusSchema),
});
export type ProvisionBatchStatus = z.infer<typeof ProvisionBatchStatusSchema>;

// --- registries ---

/** One CA certificate a registry entry pins, as the API shows it. */
export const RegistryCaViewSchema = z.object({
  subject: z.string(),
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: z.string(),
  /** ISO 8601. */
  notAfter: z.string(),
});

/** A container registry as the API shows it: never its password, only whether it has one. */
export const RegistryViewSchema = z.object({
  name: z.string(),
  /** `https://HOST[:PORT]`. */
  server: z.string(),
  /** `HOST[:PORT]`: images whose reference starts with it are pulled with this entry. */
  host: z.string(),
  username: z.string().nullable(),
  hasPassword: z.boolean(),
  /** The CA certificates it pins; empty: the nodes' system CAs. */
  ca: z.array(RegistryCaViewSchema),
  /** ISO 8601. */
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type RegistryView = z.infer<typeof RegistryViewSchema>;
export const RegistryListSchema = z.object({ items: z.array(RegistryViewSchema) });

/** `POST /v1/registries`: the stored entry, and whether it replaced one of the same name. */
export const RegistryPutResponseSchema = z.object({ registry: RegistryViewSchema, replaced: z.boolean() });
export type RegistryPutResponse = z.infer<typeof RegistryPutResponseSchema>;

/**
 * `DELETE /v1/registries/:name`. Deleting a registry that deployments still pull from is
 * allowed (an operator may be moving them elsewhere): nodes that already hold the images
 * keep running them, new pulls go without credentials or the private CA. The answer names
 * those deployments and says so in `warning`.
 */
export const RegistryDeleteResponseSchema = z.object({
  deleted: z.string(),
  /** Deployments whose current revision names an image on this registry's host. */
  inUseBy: z.array(z.string()),
  warning: z.string().nullable(),
});
export type RegistryDeleteResponse = z.infer<typeof RegistryDeleteResponseSchema>;
