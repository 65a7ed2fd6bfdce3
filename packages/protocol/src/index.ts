/**
 * @edgefleet/protocol: everything the server, the agent, the CLI and the dashboard agree on,
 * pure (no Node.js built-ins: it bundles for the browser). Node-only parts are in
 * `@edgefleet/protocol/node`.
 */
export * from './api/index.js';
export * from './bootstrap-token.js';
export * from './canonical.js';
export * from './desired.js';
export * from './duration.js';
export * from './errors.js';
export * from './fingerprint.js';
export * from './histogram.js';
export * from './image-ref.js';
export * from './labels.js';
export * from './log-scrub.js';
export * from './manifest.js';
export * from './release-env.js';
export * from './release-parts.js';
export * from './release-rules.js';
export * from './resources.js';
export * from './rollout-strategy.js';
export * from './seeded-random.js';
export * from './selector.js';
export * from './slo-suggest.js';
export * from './telemetry/index.js';
export * from './wait.js';
export * from './wire.js';

/** The edgefleet version every component reports. */
export const EDGEFLEET_VERSION = '0.1.0';

/** Label keys the agent's hardware probe owns. */
export const DETECTED_LABEL_KEYS = [
  'hardware.ai-hat',
  'ai.accelerator',
  'cpu.arch',
  'firmware.version',
  'geolocation.site',
  'board.model',
  'memory.gb',
  'ai.driver.version',
  'ai.firmware.version',
] as const;
