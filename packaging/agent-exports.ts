/**
 * What the packaged agent takes from `@edgefleet/agent`: scripts/package-agent.mjs resolves
 * the CLI's `import('@edgefleet/agent')` to this file in the agent bundle. The package's
 * index also re-exports the model server, the image and registry client, the probes and the
 * alert and metric helpers for the server, the simulator and the tests; a dynamic import
 * takes the whole namespace, so in the bundle all of it ran at start-up in every idle agent
 * (docs/BENCHMARKS.md, "Agent footprint from the packaged bundle"). The agent reaches what
 * it needs of them through agent.ts; the model server runs in its own process (main.js).
 * A name the CLI uses and this file lacks fails test/integration/package-agent.test.ts,
 * which runs the bundle.
 */
export * from '../packages/agent/src/agent.js';
export * from '../packages/agent/src/config.js';
export * from '../packages/agent/src/k8s/nfd-features.js';
export * from '../packages/agent/src/workloads/site-ports.js';
export * from '../packages/agent/src/workloads/workload-user.js';
