/**
 * Staged rollouts (issue 4): the pure planner that moves a deployment's targeted nodes from
 * one revision to the next in steps, gated against the previous revision, and what it needs —
 * deterministic cohort picks, gate evaluation over merged latency histograms, the persisted
 * state and the `rollout status` contract. No I/O here; the executor lives with the server.
 */
export * from './cohorts.js';
export * from './gates.js';
export * from './planner.js';
export * from './state.js';
export * from './status.js';
export * from './types.js';
