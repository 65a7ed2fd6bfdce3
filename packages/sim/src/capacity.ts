/**
 * Will the nodes fit? Each simulated node is a real agent (TLS client, telemetry registry,
 * aggregator, queues, supervisor) plus its simulated parts, all in this one process. The
 * per-node figures below were measured with `packages/sim/bench/footprint.ts` against a
 * separate server (see the report in docs/BENCHMARKS.md); asking for more nodes than the
 * machine holds is refused with the estimate, before anything starts, instead of letting
 * the machine swap or V8 run out of heap halfway through enrollment.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';

/** Resident memory per simulated node (measured, rounded up). */
export const RSS_PER_NODE_BYTES = 1024 * 1024;
/** V8 heap per simulated node (measured, rounded up). */
const HEAP_PER_NODE_BYTES = 200 * 1024;
/** The process without nodes: Node, the agent code, undici, zod schemas. */
const BASE_RSS_BYTES = 160 * 1024 * 1024;
/** A node's files (fixture hardware root, data dir, small stand-in artifacts): counted when they live in RAM (/dev/shm). */
const SCRATCH_PER_NODE_BYTES = 256 * 1024;
/**
 * Open connections per node (measured 3.5): the desired-state long poll, and the status,
 * telemetry and log uploads, whose idle connections the agent's client keeps for up to
 * 10 minutes (the server's keep-alive hint wins over the client's 5 s, see the report of
 * issue 6), plus short-lived files while the agent probes its hardware.
 */
const SOCKETS_PER_NODE = 4;

/** What this machine offers. */
export interface MachineResources {
  totalBytes: number;
  freeBytes: number;
  /** V8's old-space limit (`--max-old-space-size`). */
  heapLimitBytes: number;
  /** `ulimit -n`, when readable. */
  openFilesLimit: number | undefined;
}

export function machineResources(): MachineResources {
  return { totalBytes: totalmem(), freeBytes: freemem(), heapLimitBytes: getHeapStatistics().heap_size_limit, openFilesLimit: openFilesLimit() };
}

function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** The estimate for `nodes` simulated nodes. */
export interface FootprintEstimate {
  rssBytes: number;
  heapBytes: number;
  sockets: number;
}

/** `scratchInRam`: the nodes' files are in tmpfs, so they take memory too. */
export function estimateFootprint(nodes: number, scratchInRam = false): FootprintEstimate {
  return {
    rssBytes: BASE_RSS_BYTES + nodes * (RSS_PER_NODE_BYTES + (scratchInRam ? SCRATCH_PER_NODE_BYTES : 0)),
    heapBytes: 64 * 1024 * 1024 + nodes * HEAP_PER_NODE_BYTES,
    sockets: nodes * SOCKETS_PER_NODE + 64,
  };
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** Why `nodes` would not fit on `machine` (empty when they fit). */
export function capacityProblems(nodes: number, machine: MachineResources, scratchInRam = false): string[] {
  const e = estimateFootprint(nodes, scratchInRam);
  const problems: string[] = [];
  // Leave a tenth of the free memory for the server and the system.
  if (e.rssBytes > machine.freeBytes * 0.9)
    problems.push(
      `${nodes} nodes need about ${gib(e.rssBytes)} of memory (${Math.round((e.rssBytes - BASE_RSS_BYTES) / nodes / 1024)} KiB per node), but only ${gib(machine.freeBytes)} of ${gib(machine.totalBytes)} is free`,
    );
  if (e.heapBytes > machine.heapLimitBytes * 0.85)
    problems.push(
      `${nodes} nodes need about ${gib(e.heapBytes)} of JavaScript heap, above this process's limit of ${gib(machine.heapLimitBytes)} (raise it with NODE_OPTIONS=--max-old-space-size=${Math.ceil((e.heapBytes * 1.3) / 2 ** 20)})`,
    );
  return problems;
}

/**
 * Why `nodes` may run short of file descriptors (empty when they will not). Not a refusal:
 * an agent that gets EMFILE retries like after any transient failure, so the fleet slows
 * down rather than the machine thrashing.
 */
export function capacityWarnings(nodes: number, machine: MachineResources): string[] {
  const e = estimateFootprint(nodes);
  if (machine.openFilesLimit === undefined || e.sockets <= machine.openFilesLimit * 0.9) return [];
  return [
    `${nodes} nodes may hold about ${e.sockets} connections and files, near or above this process's open-files limit of ${machine.openFilesLimit}: agents that hit it retry, so expect slower enrollment and failed requests (raise the limit with ulimit -n)`,
  ];
}
