/** The node's log pipeline: level detection, sampling, scrubbing, and the collector that queues the result. */
export * from './collector.js';
export * from './level.js';
export * from './pino-destination.js';
export * from './sample.js';
export * from './scrub.js';
