/** @edgefleet/protocol: everything the server, the agent and the CLI agree on. */
export * from './bootstrap-token.js';
export * from './client.js';
export * from './duration.js';
export * from './errors.js';
export * from './fingerprint.js';
export * from './labels.js';
export * from './selector.js';
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
] as const;
export * from './canonical.js';
export * from './desired.js';
export * from './histogram.js';
export * from './manifest.js';
export * from './manifest-file.js';
export * from './node/index.js';
export * from './release-signature.js';
export * from './rollout-strategy.js';
export * from './seeded-random.js';
export * from './telemetry/index.js';
export * from './wait.js';
