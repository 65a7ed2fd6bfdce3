/**
 * `@edgefleet/queues`: the durable record queues the agent and the server keep telemetry in
 * while a link or a forwarding target is down — `SegmentQueue` (append-only, CRC-framed
 * segment files on disk, torn tails cut at start) and `MemoryQueue` (the same contract in
 * memory, for the simulator's thousands of agents). Node-only (node:fs).
 */
export * from './durable-queue.js';
export * from './memory-queue.js';
export * from './segment-queue.js';
