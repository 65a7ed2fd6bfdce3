/** @edgefleet/agent: the node agent. */
export { Agent, type AgentOptions, type AgentState } from './agent.js';
export { loadIdentity, type NodeIdentity } from './identity/store.js';
export * from './probe/index.js';
export { backoffDelay, jitteredInterval, renewalDueAt } from './timing.js';
