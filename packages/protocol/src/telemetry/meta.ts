/**
 * The JSON side-car at the end of a metrics batch (local alerts, the folded heartbeat). It
 * changes more often than the binary layout and is small, so it stays JSON; the decoder
 * checks its shape here so the server never handles an alert without a name.
 */
import { z } from 'zod';
import type { TelemetryMeta } from './types.js';

const AlertReportSchema = z.object({
  name: z.string().min(1),
  state: z.enum(['firing', 'resolved']),
  severity: z.enum(['warning', 'critical']),
  since: z.number().int().nonnegative(),
  message: z.string(),
  labels: z.record(z.string(), z.string()).optional(),
});

/**
 * `TelemetryMeta`. Loose at the top level: a side-car a newer agent adds passes through an
 * older server untouched instead of failing the whole batch.
 */
export const TelemetryMetaSchema = z.looseObject({
  alerts: z.array(AlertReportSchema).optional(),
  status: z.unknown().optional(),
});

/** Parses a decoded side-car; returns the problem as a sentence when it does not fit. */
export function parseTelemetryMeta(json: unknown): { meta: TelemetryMeta } | { problem: string } {
  const parsed = TelemetryMetaSchema.safeParse(json);
  if (parsed.success) return { meta: parsed.data as TelemetryMeta };
  const issue = parsed.error.issues[0];
  return { problem: `${issue?.path.join('.') || 'meta'}: ${issue?.message ?? 'invalid'}` };
}
