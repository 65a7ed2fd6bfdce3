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
});
export type DesiredWorkload = z.infer<typeof DesiredWorkloadSchema>;

/** A trusted release key as the server hands it out. Keys after the first carry an endorsement. */
export const TrustedKeySchema = z.object({
  keyId: z.string(),
  /** PEM SPKI Ed25519 public key. */
  publicKey: z.string(),
  signedBy: z.string().nullable(),
  signature: z.string().nullable(),
});
export type TrustedKey = z.infer<typeof TrustedKeySchema>;

export const DesiredStateSchema = z.object({
  /** Opaque: changes whenever anything in this answer changes. */
  version: z.string(),
  workloads: z.array(DesiredWorkloadSchema),
  trustedKeys: z.array(TrustedKeySchema),
  /** Whether the server requires signed releases (the agent always verifies what is signed). */
  requireSigned: z.boolean(),
});
export type DesiredState = z.infer<typeof DesiredStateSchema>;

export const WorkloadStateSchema = z.enum(['pending', 'downloading', 'starting', 'running', 'degraded', 'failed', 'verification-failed', 'stopped']);
/** Per-node state of one deployment's workload. */
export type WorkloadState = z.infer<typeof WorkloadStateSchema>;

export const WorkloadStatusSchema = z.object({
  deployment: z.string(),
  revision: z.number().int(),
  state: WorkloadStateSchema,
  /** Machine-readable reason: accelerator-unavailable, primary-crashloop, health-check-failed, digest-mismatch, … */
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
