/** @edgefleet/agent: the node agent. */
export { Agent, type AgentOptions, type AgentState } from './agent.js';
export * from './artifacts/index.js';
export { type AgentSettings, loadAgentConfig, loadAgentSettings, parseAgentConfig, parseAgentSettings, parseSize } from './config.js';
export { loadIdentity, type NodeIdentity } from './identity/store.js';
export * from './k8s/nfd-features.js';
export * from './model-server/index.js';
export * from './probe/index.js';
export * from './telemetry/alerts/index.js';
export * from './telemetry/metrics/index.js';
export { NodeTelemetry, type NodeTelemetryOptions } from './telemetry/node-telemetry.js';
export { jitteredInterval, renewalDueAt } from './timing.js';
export type { InstanceEvent, LaunchSpec } from './workloads/instance.js';
export { plan } from './workloads/planner.js';
export type { InstanceCallbacks, RuntimeInstance, RuntimeProxy, WorkloadRuntime } from './workloads/runtime.js';
export { processRuntime } from './workloads/runtime.js';
export { type ServingInstance, WorkloadStatsCollector } from './workloads/stats.js';
export type * from './workloads/types.js';
export { DEFAULT_WORKLOAD_USER } from './workloads/workload-user.js';
