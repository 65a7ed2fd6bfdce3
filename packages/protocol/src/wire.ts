import { z } from 'zod';
import { TrustedKeySchema, WorkloadStatusSchema } from './desired.js';
import { EdgefleetError } from './errors.js';
import { WorkloadStatsSchema } from './histogram.js';
import { parseRegistryServer } from './image-ref.js';
import { LabelsSchema } from './labels-schema.js';
import { TelemetrySettingsSchema } from './telemetry/api.js';

/**
 * Every request and response body that crosses the wire, as zod schemas. The server
 * validates requests with these; the client validates responses, so a version skew shows
 * up as a clear error rather than as undefined fields deep in the CLI.
 */

export { LabelsSchema } from './labels-schema.js';

const AcceleratorKindSchema = z.enum(['hailo8l', 'hailo8', 'hailo10h', 'coral-pcie', 'coral-usb']);
/** An accelerator kind as it appears in the `ai.accelerator` label. */
export type AcceleratorKind = z.infer<typeof AcceleratorKindSchema>;

const AcceleratorSchema = z.object({
  kind: AcceleratorKindSchema,
  /** Device node or bus address it was found at (`/dev/hailo0`, `usb:18d1:9302`). */
  device: z.string(),
  /** How it was told apart: sysfs ids, a cached vendor identify output, a USB id. */
  source: z.string(),
  pciId: z.string().optional(),
  busLocation: z.string().optional(),
  serial: z.string().optional(),
  firmwareVersion: z.string().optional(),
  /** The kernel driver's version (`/sys/module/hailo_pci/version`), label `ai.driver.version`. */
  driverVersion: z.string().optional(),
});
export type Accelerator = z.infer<typeof AcceleratorSchema>;

/**
 * A local problem the agent keeps running with instead of exiting (issue 17), such as its
 * metrics port taken by another program; it retries, and the condition goes when it clears.
 */
export const DegradedConditionSchema = z.object({
  /** What is affected: `metrics-endpoint`. */
  component: z.string().min(1).max(64),
  /** Why, from a short closed set per component: `port-in-use`, `bind-failed`. */
  reason: z.string().min(1).max(64),
  /** For people: what happened and what the agent does about it. */
  message: z.string().max(1024),
});
export type DegradedCondition = z.infer<typeof DegradedConditionSchema>;

/** What the hardware probe found. Unknown values are null, never guessed. */
export const HardwareFactsSchema = z.object({
  board: z.object({
    model: z.string().nullable(),
    slug: z.string(),
    serial: z.string().nullable(),
    revisionCode: z.string().nullable(),
  }),
  cpu: z.object({ arch: z.string(), kernelArch: z.string().nullable(), cores: z.number().int().nullable() }),
  memoryBytes: z.number().int().nullable(),
  firmware: z.object({ bootloaderBuildTime: z.string().nullable(), version: z.string().nullable() }),
  thermal: z.object({
    temperatureC: z.number().nullable(),
    throttledBits: z.number().int().nullable(),
  }),
  accelerators: z.array(AcceleratorSchema),
  hostname: z.string().nullable(),
  agentVersion: z.string(),
  /** The container engine the agent found at start (issue 16); null: none, container releases report runtime-unavailable. */
  containerEngine: z
    .object({
      name: z.literal('podman'),
      version: z.string(),
      /** The OCI runtime the engine uses (runc, crun). */
      ociRuntime: z.string().nullable(),
    })
    .nullable()
    .optional(),
  /** Local problems the agent runs with (absent when none; agents before issue 17 send none). */
  degraded: z.array(DegradedConditionSchema).max(32).optional(),
  /** How the agent confines workloads and pins release keys (docs/SECURITY.md); agents before issue 14 send none. */
  security: z
    .object({
      /** The user workloads run as (`edgefleet-workload`), or the agent's own when it cannot switch. */
      workloadUser: z.string(),
      /** Whether workloads run as a user of their own, apart from the agent. */
      workloadsIsolated: z.boolean(),
      /** Why they are not, when they are not. */
      workloadsNote: z.string().optional(),
      /** Where the node's first release key came from: the bootstrap token, or trust on first use. */
      releaseKeyPinning: z.enum(['token', 'first-use']).optional(),
    })
    .optional(),
});
export type HardwareFacts = z.infer<typeof HardwareFactsSchema>;

const Pem = z.string().min(1).max(16_384);

export const EnrollRequestSchema = z.object({
  token: z.string().min(1),
  csr: Pem,
  name: z.string().min(1).max(253).optional(),
  facts: HardwareFactsSchema,
  /** Labels the node reports about itself (probe, --site, --label). */
  labels: LabelsSchema,
});
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>;

export const EnrollResponseSchema = z.object({
  nodeId: z.string(),
  name: z.string(),
  certificate: Pem,
  caCertificate: Pem,
  heartbeatIntervalSeconds: z.number().positive(),
  /** Release keys the node pins at enrollment; later keys must be endorsed by one of these. */
  trustedKeys: z.array(TrustedKeySchema).default([]),
});
export type EnrollResponse = z.infer<typeof EnrollResponseSchema>;

/** A heartbeat. It carries no identity: the node is whoever its client certificate names. */
export const StatusRequestSchema = z.object({
  /** Omitted when unchanged since the last report the server accepted (metered nodes save the bytes). */
  facts: HardwareFactsSchema.optional(),
  /** Omitted when unchanged, like facts. */
  labels: LabelsSchema.optional(),
  /** What the node runs, one entry per deployment it holds. */
  workloads: z.array(WorkloadStatusSchema).max(1000).optional(),
  /** Per workload and revision, the numbers since the previous report (rollout gates). */
  stats: z.array(WorkloadStatsSchema).max(1000).optional(),
});
export type StatusRequest = z.infer<typeof StatusRequestSchema>;

export const StatusResponseSchema = z.object({
  nodeId: z.string(),
  heartbeatIntervalSeconds: z.number().positive(),
  certificateNotAfter: z.string(),
  /** The node's telemetry profile and its timings (from the `telemetry.profile` label). */
  telemetry: TelemetrySettingsSchema.optional(),
});
export type StatusResponse = z.infer<typeof StatusResponseSchema>;

export const RenewRequestSchema = z.object({ csr: Pem });
export type RenewRequest = z.infer<typeof RenewRequestSchema>;

export const RenewResponseSchema = z.object({ certificate: Pem, notAfter: z.string() });
export type RenewResponse = z.infer<typeof RenewResponseSchema>;

/** How long after its expiry an unrevoked node certificate may still renew, by proof of its key. */
export const RENEWAL_GRACE_MS = 30 * 86_400_000;

/**
 * Renewal of an expired certificate (TLS refuses it as a client certificate): the expired
 * certificate, the new CSR and the proof that the sender holds the expired certificate's
 * key, an ECDSA P-256 SHA-256 signature (DER, base64) over {@link expiredRenewalMessage}.
 */
export const RenewExpiredRequestSchema = z.object({
  certificate: Pem,
  csr: Pem,
  signature: z.string().min(1).max(256),
});
export type RenewExpiredRequest = z.infer<typeof RenewExpiredRequestSchema>;

/**
 * The text an expired certificate's key signs to renew it: bound to the fleet (its CA
 * fingerprint), to the certificate, and to the CSR whose key gets the new certificate, so a
 * signature cannot be used for another fleet, another certificate or another key.
 */
export function expiredRenewalMessage(p: { caFingerprint: string; certificateFingerprint: string; csr: string }): string {
  return `edgefleet renew-expired v1\nca:${p.caFingerprint.toLowerCase()}\ncertificate:${p.certificateFingerprint.toLowerCase()}\ncsr:\n${p.csr}`;
}

/**
 * The `field` of the `client_certificate_required` answer to an expired client certificate:
 * what tells the agent to renew by proof of its key ({@link RenewExpiredRequestSchema})
 * rather than give up, a typed signal instead of the message text.
 */
export const EXPIRED_CLIENT_CERTIFICATE_FIELD = 'clientCertificate.notAfter';

/** True for the server's answer to an expired client certificate, which the agent renews by proof of its key. */
export function isExpiredClientCertificate(err: unknown): boolean {
  return err instanceof EdgefleetError && err.code === 'client_certificate_required' && err.field === EXPIRED_CLIENT_CERTIFICATE_FIELD;
}

/** `POST /v1/nodes/:ref/reenroll`: how long the one-use token lives (default 24 h). */
export const ReenrollRequestSchema = z.object({ ttlSeconds: z.number().int().positive().optional() });
export type ReenrollRequest = z.infer<typeof ReenrollRequestSchema>;

const NodeStatusSchema = z.enum(['online', 'offline']);
export type NodeStatus = z.infer<typeof NodeStatusSchema>;

/** A node as operators see it. `labels` is the effective set: operator labels win. */
export const NodeSchema = z.object({
  id: z.string(),
  name: z.string(),
  site: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  detectedLabels: z.record(z.string(), z.string()),
  operatorLabels: z.record(z.string(), z.string()),
  status: NodeStatusSchema,
  lastSeen: z.string().nullable(),
  facts: z.record(z.string(), z.unknown()),
  certificate: z.object({ serial: z.string(), notAfter: z.string() }),
  createdAt: z.string(),
});
export type Node = z.infer<typeof NodeSchema>;

/**
 * One node as `GET /v1/nodes/:ref` shows it: the node, and what it last reported about each
 * of its workloads (state, reason such as `port-conflict`, endpoint), for `nodes get`.
 */
export const NodeDetailSchema = NodeSchema.extend({
  workloads: z.array(WorkloadStatusSchema).default([]),
});
export type NodeDetail = z.infer<typeof NodeDetailSchema>;

export const NodeListSchema = z.object({ items: z.array(NodeSchema) });
export type NodeList = z.infer<typeof NodeListSchema>;

export const NodeLabelPatchSchema = z.object({
  set: LabelsSchema.default({}),
  remove: z.array(z.string()).default([]),
});
export type NodeLabelPatch = z.input<typeof NodeLabelPatchSchema>;

/** A board serial as a token binds it: a Pi's 16 hex digits, a PC's machine-id, or another board's serial text. */
export const BoardSerialSchema = z
  .string()
  .regex(/^[0-9A-Za-z][0-9A-Za-z._:-]{0,127}$/, 'must be letters, digits, dots, colons, underscores or hyphens (a board serial such as 05a350ebd1b50841)');

/** A hostname (RFC 1123): labels of letters, digits and hyphens, joined by dots. */
export const HostnameSchema = z
  .string()
  .max(253)
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
    'must be letters, digits and hyphens (dot-separated labels of at most 63, not starting or ending with a hyphen)',
  );

export const BootstrapTokenCreateSchema = z.object({
  /** Lifetime in seconds; default 24 h, at most 30 days. */
  ttlSeconds: z.number().int().positive().optional(),
  uses: z.number().int().positive().max(100_000).optional(),
  site: z.string().min(1).max(63).optional(),
  labels: LabelsSchema.optional(),
  /**
   * SHA-256 (hex) of the raw Ed25519 release key that nodes enrolled with the token must pin
   * (`token create --release-key NAME.pub`); the token carries it (format EF2).
   */
  releaseKeyFingerprint: z
    .string()
    .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits: the SHA-256 of the raw release key')
    .optional(),
  /**
   * Binds the token to one board: a node whose facts report another board serial is refused
   * (403, the use not taken). Compared without regard to case (`edgefleet provision`).
   */
  serial: BoardSerialSchema.optional(),
  /** Binds the token to one hostname: a node whose facts report another hostname is refused. */
  hostname: HostnameSchema.optional(),
});
export type BootstrapTokenCreate = z.infer<typeof BootstrapTokenCreateSchema>;

const BootstrapTokenInfoSchema = z.object({
  id: z.string(),
  site: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  uses: z.number().int(),
  usesLeft: z.number().int(),
  expiresAt: z.string(),
  createdAt: z.string(),
  /** The board serial the token is bound to (`serial` at creation), absent when unbound. */
  serial: z.string().optional(),
  /** The hostname the token is bound to, absent when unbound. */
  hostname: z.string().optional(),
  /** The provisioning batch that minted it (`edgefleet provision`), absent otherwise. */
  batchId: z.string().optional(),
});
export type BootstrapTokenInfo = z.infer<typeof BootstrapTokenInfoSchema>;

export const BootstrapTokenCreatedSchema = BootstrapTokenInfoSchema.extend({ token: z.string() });
export type BootstrapTokenCreated = z.infer<typeof BootstrapTokenCreatedSchema>;

export const BootstrapTokenListSchema = z.object({ items: z.array(BootstrapTokenInfoSchema) });

export const RoleSchema = z.enum(['viewer', 'operator', 'admin']);
/** Operator roles, each including the one before it. */
export type Role = z.infer<typeof RoleSchema>;

/** The longest an API token may live: about five years (an expiry must exist, and be renewed by a person). */
export const MAX_API_TOKEN_TTL_SECONDS = 5 * 366 * 86_400;

export const ApiTokenCreateSchema = z.object({
  role: RoleSchema,
  name: z.string().min(1).max(100).optional(),
  /** Lifetime in seconds; default 90 days. */
  ttlSeconds: z.number().int().positive().max(MAX_API_TOKEN_TTL_SECONDS).optional(),
  /**
   * Limits the token to nodes of these sites (their `geolocation.site` label) and to
   * deployments whose selector pins that label to some of them; omitted: the whole fleet.
   */
  sites: z.array(z.string().min(1).max(63)).min(1).max(100).optional(),
});
export type ApiTokenCreate = z.infer<typeof ApiTokenCreateSchema>;

const ApiTokenInfoSchema = z.object({
  id: z.string(),
  role: RoleSchema,
  name: z.string().nullable(),
  createdAt: z.string(),
  /** When it stops working (ISO time); null: never (the initial admin token). */
  expiresAt: z.string().nullable(),
  /** When it last authenticated a request, to the minute; null: never used. */
  lastUsedAt: z.string().nullable(),
  /** The sites it is limited to; null: the whole fleet. */
  sites: z.array(z.string()).nullable(),
});
export type ApiTokenInfo = z.infer<typeof ApiTokenInfoSchema>;

export const ApiTokenCreatedSchema = ApiTokenInfoSchema.extend({ token: z.string() });
export type ApiTokenCreated = z.infer<typeof ApiTokenCreatedSchema>;

export const ApiTokenListSchema = z.object({ items: z.array(ApiTokenInfoSchema) });

export const ServerInfoSchema = z.object({
  version: z.string(),
  caFingerprint: z.string(),
  heartbeatIntervalSeconds: z.number(),
});
export type ServerInfo = z.infer<typeof ServerInfoSchema>;

/** Turns a zod issue path into the dotted field name our errors carry (`facts.board.slug`). */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.map((p) => String(p)).join('.');
}

/** An artifact in the server's content-addressed store. */
export const ArtifactInfoSchema = z.object({
  digest: z.string(),
  size: z.number().int().nonnegative(),
  createdAt: z.string(),
});
export type ArtifactInfo = z.infer<typeof ArtifactInfoSchema>;

export const ArtifactListSchema = z.object({ items: z.array(ArtifactInfoSchema) });

// --- registries ---

/** Registry names, like other resource names: DNS labels (lower-case letters, digits, "-"). */
export const REGISTRY_NAME = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

/**
 * Checks the shape of a PEM bundle of CA certificates: one or more CERTIFICATE blocks and
 * nothing else (a private key pasted by mistake is refused here, before it is stored).
 * Whether each block is a certificate the server parses (node:crypto, not in this pure module).
 */
export function pemCertificateProblem(pem: string): string | undefined {
  if (/PRIVATE KEY-----/.test(pem)) return 'the CA file holds a private key: pass the CA certificate only (never the key)';
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) return 'the CA file holds no PEM certificate ("-----BEGIN CERTIFICATE-----" … "-----END CERTIFICATE-----")';
  if (pem.replace(PEM_CERTIFICATE, '').trim() !== '') return 'the CA file holds text besides its PEM certificates';
  return undefined;
}

/**
 * `POST /v1/registries`: adds a container registry, or replaces the one of that name
 * entirely (fields left out are cleared). The password is write-only: the API never
 * answers it; only nodes whose desired state uses the registry receive it.
 */
export const RegistryCreateSchema = z
  .object({
    name: z.string().regex(REGISTRY_NAME, 'must be lower-case letters, digits and "-", at most 63 characters, like "harbor-eu"'),
    /** `https://HOST[:PORT]`, nothing more. */
    server: z
      .string()
      .min(1)
      .max(300)
      .superRefine((text, ctx) => {
        try {
          parseRegistryServer(text);
        } catch (err) {
          const e = err as Error & { hint?: string };
          ctx.addIssue({ code: 'custom', message: e.hint === undefined ? e.message : `${e.message}: ${e.hint}` });
        }
      }),
    username: z
      .string()
      .min(1)
      .max(256)
      .regex(/^[^:\s]+$/, 'must not contain ":" or white space (basic auth would split it)')
      .optional(),
    password: z.string().min(1).max(4096).optional(),
    /** PEM CA certificate(s) signing the registry's TLS certificate; left out: the node's system CAs. */
    caPem: z
      .string()
      .max(64 * 1024)
      .superRefine((pem, ctx) => {
        const problem = pemCertificateProblem(pem);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if ((r.username === undefined) !== (r.password === undefined))
      ctx.addIssue({
        code: 'custom',
        path: [r.username === undefined ? 'username' : 'password'],
        message: 'username and password go together (registries authenticate with both); give both or neither',
      });
  });
export type RegistryCreate = z.infer<typeof RegistryCreateSchema>;
