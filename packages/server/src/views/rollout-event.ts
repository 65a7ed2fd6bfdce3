/** A rollout journal entry as `GET /v1/events` (and the watch feed) return it: the stored event with its place and time. */
export type RolloutEventView = Record<string, unknown> & { deployment: string; seq: number; time: string };

/** The wire shape of one stored rollout event. */
export function rolloutEventView(e: { deployment: string; seq: number; at: number; event: unknown }): RolloutEventView {
  return { deployment: e.deployment, seq: e.seq, time: new Date(e.at).toISOString(), ...(e.event as Record<string, unknown>) };
}
