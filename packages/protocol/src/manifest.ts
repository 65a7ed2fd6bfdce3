import { z } from 'zod';
import { parseDuration } from './duration.js';
import { LabelsSchema } from './labels-schema.js';
import { RolloutStrategySchema } from './rollout-strategy.js';

/**
 * Resources, Kubernetes-style: `apiVersion: edgefleet.dev/v1`, `kind`, `metadata`, `spec`.
 * Only `Deployment` exists so far. Every schema error names the field path.
 */
export const API_VERSION = 'edgefleet.dev/v1';
export const KINDS = ['Deployment'] as const;

/** `sha256:` and 64 lowercase hex digits: the only way a manifest names an artifact. */
export const ArtifactDigestSchema = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be "sha256:" followed by 64 lowercase hex digits');

const DurationString = z.string().refine(
  (s) => {
    try {
      parseDuration(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a duration such as 5s, 1m or 1h30m' },
);

/** A DNS-label name, as Kubernetes object names are: it ends up in URLs and on disk. */
const ResourceNameSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be lowercase letters, digits and "-", starting and ending with a letter or digit');

const ModelSchema = z
  .object({
    artifact: ArtifactDigestSchema,
    format: z.enum(['onnx', 'hef', 'tflite', 'other']),
  })
  .strict();
export type Model = z.infer<typeof ModelSchema>;

const EnvSchema = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'environment variable names are letters, digits and "_"'), z.string());

const RuntimeSchema = z
  .object({
    kind: z.enum(['model-server', 'process']),
    /** `process` only: the program and its arguments. */
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: EnvSchema.optional(),
    workingDir: z.string().optional(),
    /** Whether the primary model needs the node's accelerator. */
    accelerator: z.enum(['required', 'preferred', 'none']).default('none'),
    /** Port the workload listens on; default: one the agent picks. */
    port: z.number().int().min(1).max(65535).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.kind === 'process' && r.command === undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: 'a process runtime needs a command' });
    if (r.kind === 'model-server' && r.command !== undefined)
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'the model-server runtime takes no command (use kind: process)' });
  });
export type Runtime = z.infer<typeof RuntimeSchema>;

const HealthSchema = z
  .object({
    path: z.string().startsWith('/').default('/v2/health/ready'),
    interval: DurationString.default('5s'),
    failureThreshold: z.number().int().min(1).max(100).default(3),
    /** How long a new revision must stay healthy before it is kept. */
    window: DurationString.default('30s'),
  })
  .strict();
export type Health = z.infer<typeof HealthSchema>;

const SignatureSchema = z
  .object({
    algorithm: z.literal('ed25519'),
    keyId: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 hex digits'),
    /** Base64 Ed25519 signature over the release digest bound to the fields below (see release-rules.ts). */
    value: z.string().min(1),
    /**
     * Where the release may run and when it was signed, all covered by the signature. Optional
     * only so that a manifest signed in the old format still parses and gets a clear refusal
     * ("sign it again"); a signature without them is refused by servers and nodes.
     */
    fleet: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be the fleet CA fingerprint, 64 lowercase hex digits')
      .optional(),
    deployment: z.string().min(1).max(63).optional(),
    signedAt: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/, 'must be an ISO 8601 UTC time with milliseconds, as "edgefleet release sign" writes it')
      .optional(),
  })
  .strict();
export type Signature = z.infer<typeof SignatureSchema>;

export const ReleaseSchema = z
  .object({
    version: z.string().min(1).max(128),
    model: ModelSchema,
    fallback: ModelSchema.optional(),
    runtime: RuntimeSchema.default({ kind: 'model-server', accelerator: 'none' }),
    health: HealthSchema.default({ path: '/v2/health/ready', interval: '5s', failureThreshold: 3, window: '30s' }),
    env: EnvSchema.optional(),
    /** Free-form notes; the simulator reads some (see issue 6). Part of the signed digest. */
    annotations: z.record(z.string(), z.string()).optional(),
    signature: SignatureSchema.optional(),
  })
  .strict();
export type Release = z.infer<typeof ReleaseSchema>;

const RequirementSchema = z
  .object({
    key: z.string(),
    operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
    values: z.array(z.string()).default([]),
  })
  .strict();

const SelectorSpecSchema = z.union([
  z.string(),
  z
    .object({
      matchLabels: LabelsSchema.optional(),
      matchExpressions: z.array(RequirementSchema).optional(),
    })
    .strict(),
]);
export type SelectorSpec = z.infer<typeof SelectorSpecSchema>;

const MetadataSchema = z
  .object({
    name: ResourceNameSchema,
    labels: LabelsSchema.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .strict();

export const DeploymentSpecSchema = z
  .object({
    selector: SelectorSpecSchema,
    release: ReleaseSchema,
    /** Staged rollout strategy; without it a new revision goes to every selected node at once. */
    rollout: RolloutStrategySchema.optional(),
  })
  .strict();
export type DeploymentSpec = z.infer<typeof DeploymentSpecSchema>;

export const DeploymentManifestSchema = z
  .object({
    apiVersion: z.literal(API_VERSION),
    kind: z.literal('Deployment'),
    metadata: MetadataSchema,
    spec: DeploymentSpecSchema,
  })
  .strict();
/** A Deployment as written in YAML, defaults applied. */
export type DeploymentManifest = z.infer<typeof DeploymentManifestSchema>;
/** A Deployment as a user may write it (defaults not yet applied). */
export type DeploymentManifestInput = z.input<typeof DeploymentManifestSchema>;
