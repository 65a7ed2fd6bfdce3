/** @edgefleet/agent: the node agent. */
export { Agent, type AgentOptions, type AgentState } from './agent.js';
export * from './artifacts/index.js';
export { loadIdentity, type NodeIdentity } from './identity/store.js';
export * from './model-server/index.js';
export * from './probe/index.js';
export { backoffDelay, jitteredInterval, renewalDueAt } from './timing.js';
export { plan } from './workloads/planner.js';
export type * from './workloads/types.js';
