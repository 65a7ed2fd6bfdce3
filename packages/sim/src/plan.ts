/**
 * The fleet's plan: which node is which (name, site, accelerator, serial), fixed by the seed
 * alone, and how the nodes are split over worker processes (`edgefleet sim --workers N`).
 * Every worker computes the same plan from the same options and runs only its share, so a
 * node is the same node — same name, hardware and random streams (node.ts `streamSeed` by
 * its index) — whatever the number of workers.
 */
import { join } from 'node:path';
import { errors, mulberry32 } from '@edgefleet/protocol';
import { assignHats, DEFAULT_HAT_MIX, type HatMix } from './hardware.js';
import { type NodePlan, streamSeed } from './node.js';
import { siteNames } from './options.js';

/** The most worker processes one simulation takes. */
export const MAX_WORKERS = 256;

/** What the plan depends on (a subset of `SimulationOptions`). */
export interface PlanInput {
  nodes: number;
  sites?: number;
  seed?: number;
  hatMix?: HatMix;
}

/**
 * Every node of the fleet, in start order: node i is at site i mod S (round robin, so sites
 * differ by one node at most), named `site-01-n001`…, its folder under `dataDir/nodes`.
 */
export function planFleet(o: PlanInput, dataDir: string): NodePlan[] {
  const seed = o.seed ?? 42;
  const sites = siteNames(o.sites ?? 1);
  const kinds = assignHats(o.hatMix ?? DEFAULT_HAT_MIX, o.nodes, mulberry32(streamSeed(seed, 0x4a7, 0)));
  const perSite = Math.ceil(o.nodes / sites.length);
  const width = Math.max(3, String(perSite).length);
  const plans: NodePlan[] = [];
  for (let i = 0; i < o.nodes; i++) {
    const site = sites[i % sites.length] as string;
    const name = `${site}-n${String(Math.floor(i / sites.length) + 1).padStart(width, '0')}`;
    const serial = `${streamSeed(seed, i, 6).toString(16).padStart(8, '0')}${(i + 1).toString(16).padStart(8, '0')}`;
    plans.push({ index: i, name, site, kind: kinds[i] ?? 'none', serial, dir: join(dataDir, 'nodes', name) });
  }
  return plans;
}

/** Which share of the plan a worker runs: worker `worker` (from 0) of `workers`. */
export interface Shard {
  worker: number;
  workers: number;
}

/**
 * Checks a worker count against the fleet: whole, 1 … {@link MAX_WORKERS}, and no more
 * workers than nodes (a worker without nodes would be a process for nothing).
 */
export function validateWorkers(workers: number, nodes: number): void {
  if (!Number.isInteger(workers) || workers < 1 || workers > MAX_WORKERS)
    throw errors.config(`--workers must be a whole number from 1 to ${MAX_WORKERS}, got ${workers}`, 'give e.g. --workers 2 (default: one per core)', {
      field: 'workers',
    });
  if (workers > nodes)
    throw errors.config(`--workers (${workers}) is more than --nodes (${nodes}): each worker needs at least one node`, 'give fewer workers or more nodes', {
      field: 'workers',
    });
}

/**
 * The node indexes worker `worker` of `workers` runs: every `workers`-th node from its own
 * number on (round robin), so each worker's nodes span every site and the whole start order,
 * and together the workers cover every node exactly once.
 */
export function shardIndexes(nodes: number, shard: Shard): number[] {
  validateWorkers(shard.workers, nodes);
  if (!Number.isInteger(shard.worker) || shard.worker < 0 || shard.worker >= shard.workers)
    throw errors.config(`worker ${shard.worker} is not one of 0 … ${shard.workers - 1}`, 'number workers from 0', { field: 'workers' });
  const out: number[] = [];
  for (let i = shard.worker; i < nodes; i += shard.workers) out.push(i);
  return out;
}

/** The whole split: for each worker, its node indexes. */
export function splitPlan(nodes: number, workers: number): number[][] {
  validateWorkers(workers, nodes);
  return Array.from({ length: workers }, (_, worker) => shardIndexes(nodes, { worker, workers }));
}

/** `--workers N` as the command gets it: a whole number from 1 (checked against the nodes by {@link validateWorkers}). */
export function parseWorkers(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 1 || n > MAX_WORKERS)
    throw errors.config(`--workers must be a whole number from 1 to ${MAX_WORKERS}, got "${text}"`, 'give e.g. --workers 2 (default: one per core)', {
      field: 'workers',
    });
  return n;
}
