import type { RolloutEventView } from '@edgefleet/protocol';

/** The wire shape of one stored rollout event (`GET /v1/events`, the watch feed): the event with its place and time. */
export function rolloutEventView(e: { deployment: string; seq: number; at: number; event: unknown }): RolloutEventView {
  // The store keeps the controller's RolloutEvent (rollouts/types.ts) as written: the wire
  // shape without its deployment and ISO time. The route's schema checks it on the way out.
  const event = e.event as RolloutEventView;
  return { ...event, deployment: e.deployment, seq: e.seq, time: new Date(e.at).toISOString() };
}
