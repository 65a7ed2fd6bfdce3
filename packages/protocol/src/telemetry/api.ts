import { z } from 'zod';

/**
 * JSON shapes of the telemetry API: what the server answers an upload with, and what
 * operators read back (`edgefleet logs`, `edgefleet alerts`, a node's latest values).
 */

const TelemetryProfileNameSchema = z.enum(['lan', 'metered']);

/** What the server tells a node about its telemetry, in every status and upload answer. */
export const TelemetrySettingsSchema = z.object({
  profile: TelemetryProfileNameSchema,
  resolutionMs: z.number().int().positive(),
  uploadIntervalMs: z.number().int().positive(),
  foldHeartbeats: z.boolean(),
});
export type TelemetrySettings = z.infer<typeof TelemetrySettingsSchema>;

/** The answer to an upload of metrics or logs. */
export const TelemetryUploadResponseSchema = z.object({
  /** False when the batch had been accepted before (a replay after a lost answer). */
  accepted: z.boolean(),
  /** Series the server could not attribute (a deployment or revision it does not know for this node), dropped. */
  rejected: z.array(z.object({ series: z.string(), reason: z.string() })).default([]),
  telemetry: TelemetrySettingsSchema,
  heartbeatIntervalSeconds: z.number().positive(),
  /** Version of the node's desired state, so a metered node fetches it only when it changed. */
  desiredVersion: z.string().optional(),
});
export type TelemetryUploadResponse = z.infer<typeof TelemetryUploadResponseSchema>;

export const LogLineSchema = z.object({
  /** Cursor for `after` (increasing). */
  id: z.number().int(),
  /** ISO time of the line (node clock). */
  time: z.string(),
  tsNs: z.string(),
  node: z.string(),
  source: z.string(),
  revision: z.number().int().nullable(),
  stream: z.string(),
  level: z.string(),
  line: z.string(),
});
export type LogLine = z.infer<typeof LogLineSchema>;

export const LogListSchema = z.object({
  items: z.array(LogLineSchema),
  /** Pass as `after` to continue (follow mode). */
  next: z.number().int(),
});
export type LogList = z.infer<typeof LogListSchema>;

export const AlertViewSchema = z.object({
  node: z.string(),
  nodeId: z.string(),
  site: z.string().nullable(),
  name: z.string(),
  state: z.enum(['firing', 'resolved']),
  severity: z.enum(['warning', 'critical']),
  /** When it started firing or resolved, ISO (node clock). */
  since: z.string(),
  message: z.string(),
  labels: z.record(z.string(), z.string()),
  /** When the server last heard about it. */
  reportedAt: z.string(),
});
export type AlertView = z.infer<typeof AlertViewSchema>;

export const AlertListSchema = z.object({ items: z.array(AlertViewSchema) });
export type AlertList = z.infer<typeof AlertListSchema>;

/** A node's latest telemetry as the server keeps it (dashboard, `nodes get`). */
export const NodeTelemetrySchema = z.object({
  node: z.string(),
  profile: TelemetryProfileNameSchema,
  lastUploadAt: z.string().nullable(),
  /** Latest value per series: gauges' last value, counters' last interval increase. */
  latest: z.array(z.object({ name: z.string(), labels: z.record(z.string(), z.string()), kind: z.string(), t: z.number(), value: z.number() })),
  alerts: z.array(AlertViewSchema),
});
export type NodeTelemetry = z.infer<typeof NodeTelemetrySchema>;
