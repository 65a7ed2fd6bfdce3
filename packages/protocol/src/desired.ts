import { z } from 'zod';
import { ReleaseSchema } from './manifest.js';

/**
 * What the server wants a node to run, and what the node reports back. The agent
 * long-polls `GET /v1/agent/desired?since=<version>&wait=<seconds>`: the server answers
 * at once when its version differs from `since`, else when it changes or the wait ends
 * (then 304). The agent keeps the last answer on disk and runs it while offline.
 */
const DesiredWorkloadSchema = z.object({
  deployment: z.string(),
  revision: z.number().int().positive(),
  /** The release as applied, defaults filled in, signature included. */
  release: ReleaseSchema,
  /** `spec.endpoint`: the port the node serves this deployment on for the site; null = loopback, agent's choice. */
  endpoint: z
    .object({ port: z.number().int().min(1).max(65535) })
    .nullable()
    .default(null),
});
export type DesiredWorkload = z.infer<typeof DesiredWorkloadSchema>;

/** A revocation of a release key, signed by another trusted key (see release-rules.ts). */
export const KeyRevocationSchema = z.object({
  /** ISO 8601 UTC time with milliseconds; part of the signed text. */
  revokedAt: z.string(),
  /** The key that signed the revocation (never the revoked key itself). */
  signedBy: z.string(),
  /** Base64 Ed25519 signature over `keyRevocationText(fleet, keyId, revokedAt)`. */
  signature: z.string(),
});
export type KeyRevocation = z.infer<typeof KeyRevocationSchema>;

/**
 * A trusted release key as the server hands it out. Its endorsement signs its expiry: a
 * root key (signedBy null) endorses itself, a later key is endorsed by a trusted key. Keys
 * trusted before expiries existed have `expiresAt` null and an old-format endorsement.
 */
export const TrustedKeySchema = z.object({
  keyId: z.string(),
  /** PEM SPKI Ed25519 public key. */
  publicKey: z.string(),
  /** The endorsing key; null for a root key (whose `signature`, when present, is its own). */
  signedBy: z.string().nullable(),
  signature: z.string().nullable(),
  /** When the key stops being accepted for new releases (ISO 8601 UTC, signed); null for keys of the old format. */
  expiresAt: z.string().nullable().default(null),
  /** Set once the key is revoked; nodes then refuse every release it signed. */
  revocation: KeyRevocationSchema.nullable().default(null),
});
export type TrustedKey = z.infer<typeof TrustedKeySchema>;

/**
 * Pull access to one registry, sent only to nodes whose desired state names an image in it.
 * Agents keep it in memory and on disk with mode 0600 and never log the password.
 */
export const RegistryAccessSchema = z.object({
  name: z.string(),
  /** `https://HOST[:PORT]`; images whose reference starts with HOST[:PORT]/ use this entry. */
  server: z.string(),
  /** PEM CA certificate(s) that sign the registry's TLS certificate; null: the system's CAs. */
  caPem: z.string().nullable(),
  username: z.string().nullable(),
  password: z.string().nullable(),
});
export type RegistryAccess = z.infer<typeof RegistryAccessSchema>;

export const DesiredStateSchema = z.object({
  /** Opaque: changes whenever anything in this answer changes. */
  version: z.string(),
  workloads: z.array(DesiredWorkloadSchema),
  trustedKeys: z.array(TrustedKeySchema),
  /** Whether the server requires signed releases (the agent always verifies what is signed). */
  requireSigned: z.boolean(),
  /** Registries the workloads' images come from (only those), with pull credentials. */
  registries: z.array(RegistryAccessSchema).default([]),
});
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export const WorkloadStateSchema = z.enum(['pending', 'downloading', 'starting', 'running', 'degraded', 'failed', 'verification-failed', 'stopped']);
/** Per-node state of one deployment's workload. */
export type WorkloadState = z.infer<typeof WorkloadStateSchema>;

export const WorkloadStatusSchema = z.object({
  deployment: z.string(),
  revision: z.number().int(),
  state: WorkloadStateSchema,
  /**
   * Machine-readable reason: accelerator-unavailable, primary-crashloop, health-check-failed,
   * digest-mismatch, and for containers runtime-unavailable, platform-unavailable,
   * image-signature-invalid, image-pull-failed, and for spec.endpoint port-conflict (the port is another
   * deployment's or another program's) and endpoint-unavailable (the inference address cannot be bound), …
   */
  reason: z.string().nullable(),
  message: z.string().nullable(),
  /** Where the workload serves the Open Inference Protocol, `http://host:port`. */
  endpoint: z.string().nullable(),
  /** Which model is serving: the primary or the CPU fallback. */
  active: z.enum(['primary', 'fallback']).nullable(),
  /** The revision that serves right now (an older one while the new one starts or after it failed). */
  servingRevision: z.number().int().nullable().default(null),
  /** Revisions whose artifacts the node holds (for rollbacks without downloads). */
  heldRevisions: z.array(z.number().int()).default([]),
});
export type WorkloadStatus = z.infer<typeof WorkloadStatusSchema>;
