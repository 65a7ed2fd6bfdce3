/** Node.js-only helpers shared by the agent and the server (durable queues). */

export * from './durable-file.js';
export * from './durable-queue.js';
export * from './memory-queue.js';
export * from './segment-queue.js';
