/**
 * What a simulation is asked to do, and the checks that run before anything starts: the
 * command's flags (strings) become `SimulationOptions`, and every nonsense value — a
 * negative node count, a mix that does not add up, a fault at a site that does not exist —
 * is refused with a sentence that names the flag and how to fix it.
 */
import { readFileSync } from 'node:fs';
import { type EdgefleetError, errors, parseBootstrapToken, parseDuration, type TelemetryProfileName } from '@edgefleet/protocol';
import { parse as parseYaml } from 'yaml';
import type { FastClock } from './fast-clock.js';
import { DEFAULT_MEAN_OFFLINE_MS, DEFAULT_MEAN_ONLINE_MS, type FaultPlan, noFaults, parseFaultFile, parseSiteOutage, unknownSites } from './faults.js';
import { DEFAULT_HAT_MIX, type HatMix, parseHatMix } from './hardware.js';
import { type ImageTable, parseImageTable } from './images.js';
import type { Shard } from './plan.js';

/** Agent tuning for simulated nodes (defaults favour thousands of agents over reaction time). */
export interface AgentTuning {
  /** Reconcile pass interval (default 5 s; changes still trigger a pass at once). */
  reconcileIntervalMs?: number;
  /** Desired-state long-poll wait (default the agent's own, 120 s). */
  desiredWaitSeconds?: number;
  /** Consecutive primary failures that count as a crash loop (default 3). */
  crashLoopThreshold?: number;
  /** Wait before retrying a crash-looping primary (agent default when absent). */
  primaryRetryDelayMs?: (failures: number) => number;
  /** Telemetry sampling interval (default 15 s). */
  sampleIntervalMs?: number;
  /** Bound of each in-memory telemetry queue (default 2 MiB metrics, 512 KiB logs). */
  queueBytes?: number;
}

/** Options of {@link startSimulation}. Only server, token and nodes are required. */
export interface SimulationOptions {
  /** Control plane URL, `https://HOST:PORT`. */
  server: string;
  /** Bootstrap token with at least `nodes` uses (it also pins the fleet CA). */
  token: string;
  nodes: number;
  /** Sites `site-01` … `site-NN`; nodes are spread evenly (default 1). */
  sites?: number;
  hatMix?: HatMix;
  /** Seeds every random choice: hats, latencies, faults, jitter (default 42). */
  seed?: number;
  /** Inference requests per second per node and deployment (default 5). */
  rps?: number;
  /** Telemetry profile of every node (default lan). */
  profile?: TelemetryProfileName;
  faults?: FaultPlan;
  /** Stop after this long; absent: until `stop()`. */
  durationMs?: number;
  /** Summary interval (default 10 s). */
  intervalMs?: number;
  /** Where node data dirs and hardware roots go; default a temp dir removed at stop. */
  dataDir?: string;
  /** Operator API token: rollout phases in the summary (optional). */
  adminToken?: string;
  /** Agents starting (enrolling) at once (default 20): enrollment in waves. */
  enrollConcurrency?: number;
  /** Model load time when a release does not say (default 2 s). */
  loadSeconds?: number;
  /** Start even when the memory estimate says the machine cannot hold the nodes. */
  force?: boolean;
  agent?: AgentTuning;
  /**
   * The clock of the fleet (default the wall clock). A `FastClock` shared with an in-process
   * server fast-forwards the whole fleet (`edgefleet sim --fast-forward`).
   */
  clock?: FastClock;
  /** Traffic follows a daily cycle (quiet nights, busy afternoons; see traffic.ts `dailyLoad`). */
  dailyCycle?: boolean;
  /**
   * Container images (images.ts): sizes, platforms, start time and crashes per image; images
   * it does not name weigh 50 MB, of which each digest has a 5 MB layer of its own. Every
   * simulated node has a container engine (podman in its facts) and an image store.
   */
  images?: ImageTable;
  /**
   * Run only this worker's share of the fleet (plan.ts `shardIndexes`): what each worker
   * process of `edgefleet sim --workers N` is given (workers.ts). Absent: every node.
   */
  shard?: Shard;
}

/** The command's flags, as strings (commander's view). */
export interface SimFlags {
  server: string;
  tokenFile?: string;
  nodes: string;
  sites?: string;
  hatMix?: string;
  seed?: string;
  rps?: string;
  profile?: string;
  offlineRate?: string;
  siteOutage?: string[];
  faults?: string;
  duration?: string;
  interval?: string;
  data?: string;
  adminTokenFile?: string;
  enrollConcurrency?: string;
  loadSeconds?: string;
  /** The image table file (YAML or JSON): `default` and `images` (see images.ts). */
  images?: string;
  force?: boolean;
  /** Worker processes (default: one per core). */
  workers?: string;
}

/** The most nodes one simulation takes (far beyond what one machine holds anyway). */
export const MAX_NODES = 100_000;

function configError(flag: string, message: string, hint: string): EdgefleetError {
  return errors.config(`--${flag} ${message}`, hint, { field: flag });
}

function wholeNumber(flag: string, text: string, min: number, max: number, hint: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw configError(flag, `must be a whole number from ${min} to ${max}, got "${text}"`, hint);
  return n;
}

function number(flag: string, text: string, min: number, max: number, hint: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw configError(flag, `must be a number from ${min} to ${max}, got "${text}"`, hint);
  return n;
}

function duration(flag: string, text: string, minMs: number): number {
  let ms: number;
  try {
    ms = parseDuration(text, flag);
  } catch {
    throw configError(flag, `must be a duration such as 90s, 10m or 1h, got "${text}"`, 'write a number with a unit: ms, s, m, h or d');
  }
  if (ms < minMs) throw configError(flag, `must be at least ${minMs / 1000}s, got "${text}"`, `give --${flag} ${minMs / 1000}s or more`);
  return ms;
}

function readFile(flag: string, path: string, read: (path: string) => string): string {
  try {
    return read(path);
  } catch (err) {
    throw configError(flag, `${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, `check the path given to --${flag}`);
  }
}

/**
 * Turns the command's flags into options, reading the token, admin token and fault files.
 * Throws a config `EdgefleetError` naming the flag for any bad value.
 */
export function parseSimFlags(flags: SimFlags, read: (path: string) => string = (p) => readFileSync(p, 'utf8')): SimulationOptions {
  if (flags.tokenFile === undefined)
    throw configError('token-file', 'is required', 'create a token with "edgefleet token create --uses N" and save it to a file');
  const token = readFile('token-file', flags.tokenFile, read).trim();
  const nodes = wholeNumber('nodes', flags.nodes, 1, MAX_NODES, 'give the number of simulated nodes, e.g. --nodes 200');
  const sites = flags.sites === undefined ? 1 : wholeNumber('sites', flags.sites, 1, MAX_NODES, 'give the number of sites, e.g. --sites 5');
  const faults = flags.faults === undefined ? noFaults() : parseFaultFile(readFile('faults', flags.faults, read), flags.faults);
  if (flags.offlineRate !== undefined) {
    const share = number('offline-rate', flags.offlineRate, 0, 1, 'give the share of nodes that drop off and come back, e.g. --offline-rate 0.05');
    faults.offline = { meanOnlineMs: DEFAULT_MEAN_ONLINE_MS, meanOfflineMs: DEFAULT_MEAN_OFFLINE_MS, ...(faults.offline ?? {}), share };
  }
  for (const o of flags.siteOutage ?? []) faults.siteOutages.push(parseSiteOutage(o));
  const profile = flags.profile ?? 'lan';
  if (profile !== 'lan' && profile !== 'metered')
    throw configError('profile', `must be lan or metered, got "${profile}"`, 'lan: upload every 60 s; metered: every 15 min with heartbeats folded in');
  const options: SimulationOptions = {
    server: flags.server,
    token,
    nodes,
    sites,
    hatMix: flags.hatMix === undefined ? { ...DEFAULT_HAT_MIX } : parseHatMix(flags.hatMix),
    seed: flags.seed === undefined ? 42 : wholeNumber('seed', flags.seed, 0, 2 ** 32 - 1, 'give a whole number, e.g. --seed 42'),
    rps: flags.rps === undefined ? 5 : number('rps', flags.rps, 0, 1000, 'give inference requests per second per node, e.g. --rps 5'),
    profile,
    faults,
    intervalMs: flags.interval === undefined ? 10_000 : duration('interval', flags.interval, 1_000),
    ...(flags.duration === undefined ? {} : { durationMs: duration('duration', flags.duration, 1_000) }),
    ...(flags.data === undefined ? {} : { dataDir: flags.data }),
    ...(flags.adminTokenFile === undefined ? {} : { adminToken: readFile('admin-token-file', flags.adminTokenFile, read).trim() }),
    ...(flags.enrollConcurrency === undefined
      ? {}
      : { enrollConcurrency: wholeNumber('enroll-concurrency', flags.enrollConcurrency, 1, 1000, 'give how many agents may enroll at once, e.g. 20') }),
    ...(flags.loadSeconds === undefined
      ? {}
      : { loadSeconds: number('load-seconds', flags.loadSeconds, 0, 3600, 'give a model load time in seconds, e.g. 2') }),
    ...(flags.images === undefined ? {} : { images: readImageTable(readFile('images', flags.images, read), flags.images) }),
    ...(flags.force === true ? { force: true } : {}),
  };
  validateSimulationOptions(options);
  return options;
}

function readImageTable(text: string, file: string): ImageTable {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw configError(
      'images',
      `${file}: not YAML or JSON (${(err as Error).message.split('\n')[0]})`,
      'write the table as YAML: default: {baseMb: 45}, images: {REF: {…}}',
    );
  }
  return parseImageTable(data);
}

/** Site names of a simulation with `sites` sites: `site-01` … (two digits at least). */
export function siteNames(sites: number): string[] {
  const width = Math.max(2, String(sites).length);
  return Array.from({ length: sites }, (_, i) => `site-${String(i + 1).padStart(width, '0')}`);
}

/**
 * Checks options given programmatically as thoroughly as flags: the same messages. Called
 * by `startSimulation` before it touches anything.
 */
export function validateSimulationOptions(o: SimulationOptions): void {
  const whole = (flag: string, v: number | undefined, min: number, max: number): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
      throw configError(flag, `must be a whole number from ${min} to ${max}, got ${v}`, `fix --${flag}`);
  };
  whole('nodes', o.nodes, 1, MAX_NODES);
  whole('sites', o.sites, 1, MAX_NODES);
  if ((o.sites ?? 1) > o.nodes)
    throw configError('sites', `(${o.sites}) is more than --nodes (${o.nodes}): a site needs at least one node`, 'give fewer sites or more nodes');
  whole('seed', o.seed, 0, 2 ** 32 - 1);
  whole('enroll-concurrency', o.enrollConcurrency, 1, 1000);
  if (o.rps !== undefined && !(o.rps >= 0 && o.rps <= 1000))
    throw configError('rps', `must be from 0 to 1000, got ${o.rps}`, 'give requests per second per node');
  if (o.intervalMs !== undefined && !(o.intervalMs >= 1000)) throw configError('interval', 'must be at least 1s', 'give e.g. --interval 10s');
  if (o.durationMs !== undefined && !(o.durationMs > 0)) throw configError('duration', 'must be longer than 0s', 'give e.g. --duration 10m');
  if (o.hatMix !== undefined) {
    const total = Object.values(o.hatMix).reduce((a, b) => a + (b ?? 0), 0);
    if (Math.abs(total - 1) > 0.001 || Object.values(o.hatMix).some((v) => v === undefined || !(v >= 0)))
      throw configError('hat-mix', `shares must be from 0 to 1 and add up to 1, got ${Number(total.toFixed(6))}`, 'e.g. hailo8l=0.6,hailo8=0.2,none=0.2');
  }
  parseBootstrapToken(o.token);
  if (o.images !== undefined) parseImageTable(o.images);
  const f = o.faults;
  if (f !== undefined) {
    if (f.offline !== undefined && !(f.offline.share >= 0 && f.offline.share <= 1))
      throw configError('offline-rate', `must be from 0 to 1, got ${f.offline.share}`, 'e.g. 0.05');
    const unknown = unknownSites(f, siteNames(o.sites ?? 1));
    if (unknown.length > 0) {
      const names = siteNames(o.sites ?? 1);
      throw errors.config(
        `the faults name ${unknown.map((s) => `"${s}"`).join(', ')}, which ${unknown.length === 1 ? 'is not a site' : 'are not sites'} of this simulation (it has ${names.length === 1 ? names[0] : `${names[0]} … ${names.at(-1)}`})`,
        'sites are named site-01, site-02, …; give more --sites or fix the site names',
        { field: 'faults' },
      );
    }
  }
}
