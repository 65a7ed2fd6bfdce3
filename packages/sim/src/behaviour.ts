/**
 * What-if behaviour a release asks of the simulator, through its annotations (signed with
 * the release, so a rehearsal is exactly what would be applied). Real agents ignore them.
 *
 * | annotation | meaning | default |
 * | --- | --- | --- |
 * | `sim.edgefleet.dev/latency-multiplier` | every inference takes this many times as long (> 0) | 1 |
 * | `sim.edgefleet.dev/error-rate` | share of inferences that fail (5xx), 0 … 1 | 0 |
 * | `sim.edgefleet.dev/crash-probability` | per start of the primary: chance it dies inside its health window after becoming ready, 0 … 1 | 0 |
 * | `sim.edgefleet.dev/load-seconds` | time from start to ready (model load), ≥ 0 | the simulation's (2 s) |
 *
 * A value that does not parse or is out of range is ignored (the default applies) and named
 * in `problems`, so a typo shows up in the simulator's output instead of silently
 * rehearsing something else.
 */
import type { Release } from '@edgefleet/protocol';

export const ANNOTATION_PREFIX = 'sim.edgefleet.dev/';
export const LATENCY_MULTIPLIER = `${ANNOTATION_PREFIX}latency-multiplier`;
export const ERROR_RATE = `${ANNOTATION_PREFIX}error-rate`;
export const CRASH_PROBABILITY = `${ANNOTATION_PREFIX}crash-probability`;
export const LOAD_SECONDS = `${ANNOTATION_PREFIX}load-seconds`;

/** A release's simulated behaviour. */
export interface ReleaseBehaviour {
  latencyMultiplier: number;
  errorRate: number;
  crashProbability: number;
  /** Model load time; undefined: the simulation's default. */
  loadMs: number | undefined;
  /** Annotations that were ignored, with why. */
  problems: string[];
}

/** Reads the simulator's annotations from a release, defensively. */
export function releaseBehaviour(release: Pick<Release, 'annotations'> | undefined): ReleaseBehaviour {
  const raw = (release as { annotations?: unknown } | undefined)?.annotations;
  const notes: Record<string, unknown> = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {};
  const problems: string[] = [];
  const read = (key: string, ok: (n: number) => boolean, range: string): number | undefined => {
    const v = notes[key];
    if (v === undefined) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
    if (Number.isFinite(n) && ok(n)) return n;
    problems.push(`${key}: "${String(v)}" is not ${range}; ignored`);
    return undefined;
  };
  const known = new Set([LATENCY_MULTIPLIER, ERROR_RATE, CRASH_PROBABILITY, LOAD_SECONDS]);
  for (const key of Object.keys(notes))
    if (key.startsWith(ANNOTATION_PREFIX) && !known.has(key)) problems.push(`${key}: unknown simulator annotation; ignored`);
  const load = read(LOAD_SECONDS, (n) => n >= 0 && n <= 3600, 'a number of seconds from 0 to 3600');
  return {
    latencyMultiplier: read(LATENCY_MULTIPLIER, (n) => n > 0 && n <= 1000, 'a number above 0 (at most 1000)') ?? 1,
    errorRate: read(ERROR_RATE, (n) => n >= 0 && n <= 1, 'a share from 0 to 1') ?? 0,
    crashProbability: read(CRASH_PROBABILITY, (n) => n >= 0 && n <= 1, 'a probability from 0 to 1') ?? 0,
    loadMs: load === undefined ? undefined : Math.round(load * 1000),
    problems,
  };
}
