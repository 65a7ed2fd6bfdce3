import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseImageReference } from './image-ref.js';
import { LabelsSchema } from './labels-schema.js';
import { parseCpu, parseMemory } from './resources.js';
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

/** A container image pinned by digest, with its registry (see image-ref.ts). */
export const ImageReferenceSchema = z.string().superRefine((text, ctx) => {
  try {
    parseImageReference(text);
  } catch (err) {
    const e = err as Error & { hint?: string };
    ctx.addIssue({ code: 'custom', message: e.hint === undefined ? e.message : `${e.message}: ${e.hint}` });
  }
});

/**
 * Linux capabilities a container may keep; every other one is dropped. Short on purpose:
 * binding a low port, raising its own scheduling priority and locking memory for DMA
 * buffers are what inference servers need.
 */
export const CONTAINER_CAPABILITIES = ['NET_BIND_SERVICE', 'SYS_NICE', 'IPC_LOCK'] as const;

/** A port a container listens on; the one named `inference` (or the only one) serves the Open Inference Protocol. */
const ContainerPortSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,14}$/, 'must be a short lowercase name such as "inference"')
      .default('inference'),
    containerPort: z.number().int().min(1).max(65535),
  })
  .strict();

/** CPU and memory limits, as Kubernetes writes them. */
const ResourcesSchema = z
  .object({
    cpu: z
      .union([z.string(), z.number()])
      .superRefine((v, ctx) => {
        try {
          parseCpu(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      })
      .optional(),
    memory: z
      .union([z.string(), z.number()])
      .superRefine((v, ctx) => {
        try {
          parseMemory(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: (err as Error).message });
        }
      })
      .optional(),
  })
  .strict();
export type Resources = z.infer<typeof ResourcesSchema>;

const RuntimeSchema = z
  .object({
    kind: z.enum(['model-server', 'process', 'container']),
    /** `process`: the program; `container`: overrides the image's entrypoint. */
    command: z.string().min(1).optional(),
    args: z.array(z.string()).optional(),
    env: EnvSchema.optional(),
    workingDir: z.string().optional(),
    /** Whether the primary needs the node's accelerator (a container then gets its device nodes). */
    accelerator: z.enum(['required', 'preferred', 'none']).default('none'),
    /** `model-server` and `process`: port the workload listens on; default: one the agent picks. */
    port: z.number().int().min(1).max(65535).optional(),
    /** `container` only: the image, pinned by digest (`registry.example/team/detector@sha256:…`). */
    image: ImageReferenceSchema.optional(),
    /** `container` only: the ports it listens on; default one port 8080 named `inference`. */
    ports: z.array(ContainerPortSchema).min(1).max(8).optional(),
    /** `container` only: CPU and memory limits. */
    resources: ResourcesSchema.optional(),
    /** `container` only: capabilities to keep, from {@link CONTAINER_CAPABILITIES}; all others are dropped. */
    capabilities: z.array(z.enum(CONTAINER_CAPABILITIES)).optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.kind === 'process' && r.command === undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: 'a process runtime needs a command' });
    if (r.kind === 'model-server' && r.command !== undefined)
      ctx.addIssue({ code: 'custom', path: ['command'], message: 'the model-server runtime takes no command (use kind: process)' });
    if (r.kind === 'container') {
      if (r.image === undefined) ctx.addIssue({ code: 'custom', path: ['image'], message: 'a container runtime needs an image pinned by digest' });
      if (r.port !== undefined) ctx.addIssue({ code: 'custom', path: ['port'], message: 'a container names its ports under "ports" (containerPort)' });
      if (r.workingDir !== undefined) ctx.addIssue({ code: 'custom', path: ['workingDir'], message: "a container runs in its image's working directory" });
      const ports = r.ports ?? [];
      if (ports.length > 1 && !ports.some((p) => p.name === 'inference'))
        ctx.addIssue({ code: 'custom', path: ['ports'], message: 'with several ports, name the one serving the Open Inference Protocol "inference"' });
    } else {
      for (const field of ['image', 'ports', 'resources', 'capabilities'] as const)
        if (r[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `"${field}" is for container runtimes only (kind: container)` });
    }
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

/**
 * What serves when the primary can't (no accelerator, crash loop, platform missing from an
 * image index): a CPU model for the release's model server, a process, or another image.
 */
const FallbackSchema = z.union([
  ModelSchema,
  z
    .object({
      kind: z.literal('process'),
      command: z.string().min(1),
      args: z.array(z.string()).optional(),
      env: EnvSchema.optional(),
      workingDir: z.string().optional(),
      port: z.number().int().min(1).max(65535).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('container'),
      image: ImageReferenceSchema,
      command: z.string().min(1).optional(),
      args: z.array(z.string()).optional(),
      env: EnvSchema.optional(),
      ports: z.array(ContainerPortSchema).min(1).max(8).optional(),
      resources: ResourcesSchema.optional(),
      capabilities: z.array(z.enum(CONTAINER_CAPABILITIES)).optional(),
    })
    .strict(),
]);
export type Fallback = z.infer<typeof FallbackSchema>;

/** Checks a node makes beyond the release signature. */
const VerifySchema = z
  .object({
    /** Require a cosign key-based signature of every image in the registry (`sha256-<digest>.sig`). */
    cosign: z.object({ publicKey: z.string().min(1).max(16_384).startsWith('-----BEGIN PUBLIC KEY-----', 'must be a PEM public key (cosign.pub)') }).strict(),
  })
  .strict();

export const ReleaseSchema = z
  .object({
    version: z.string().min(1).max(128),
    /** The model the model server loads; optional for runtimes that bring their own code (process, container). */
    model: ModelSchema.optional(),
    fallback: FallbackSchema.optional(),
    runtime: RuntimeSchema.default({ kind: 'model-server', accelerator: 'none' }),
    verify: VerifySchema.optional(),
    health: HealthSchema.default({ path: '/v2/health/ready', interval: '5s', failureThreshold: 3, window: '30s' }),
    env: EnvSchema.optional(),
    /** Free-form notes; the simulator reads some (see issue 6). Part of the signed digest. */
    annotations: z.record(z.string(), z.string()).optional(),
    signature: SignatureSchema.optional(),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (r.runtime.kind === 'model-server' && r.model === undefined)
      ctx.addIssue({ code: 'custom', path: ['model'], message: 'the model-server runtime needs a model (or use kind: process or container)' });
    if (r.verify !== undefined && r.runtime.kind !== 'container' && !(r.fallback !== undefined && 'kind' in r.fallback && r.fallback.kind === 'container'))
      ctx.addIssue({ code: 'custom', path: ['verify'], message: 'verify.cosign checks container images; this release has none' });
  });
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
    /**
     * Serve the site: the agent's per-deployment proxy listens on the node's inference address
     * at this port, across revisions and fallbacks. Without it, loopback and a port the agent picks.
     */
    endpoint: z
      .object({ port: z.number().int().min(1).max(65535) })
      .strict()
      .optional(),
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
