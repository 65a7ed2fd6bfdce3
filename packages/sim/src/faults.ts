/**
 * The fault plan of a simulation, and its YAML form (`--faults FILE`). Flags add to it
 * (`--offline-rate`, `--site-outage`). Every time is relative to the start of the
 * simulation. The file is validated strictly: an unknown fault or field, a bad duration or
 * share is refused with `FILE:LINE: field: problem`, before anything starts.
 *
 * ```yaml
 * offline:                # nodes that drop off and come back (see churn in fault-scheduler.ts)
 *   share: 0.05           # of the fleet, picked by the seed
 *   meanOnline: 5m        # exponential; the first drop is uniform in [0, meanOnline]
 *   meanOffline: 1m       # exponential, clamped to [10s, 10 × meanOffline]
 * siteOutages:
 *   - { site: site-03, at: 2m, duration: 10m }
 * links:                  # per site ("*": every site without its own entry)
 *   - { site: "*", latency: 40ms, jitter: 10ms, loss: 0.01, bandwidth: 2Mbit }
 * acceleratorFailures:    # a node's accelerator vanishes (the agent moves to the CPU fallback)
 *   - { count: 3, within: 10m, for: 5m, site: site-01 }   # or at: 4m; without for: for good
 * powerCuts:              # a node's agent is killed and restarted on the same data dir
 *   - { count: 4, within: 10m, downtime: 30s }
 * ```
 */
import { type EdgefleetError, errors, parseDuration } from '@edgefleet/protocol';
import { type Document, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import type { LinkProfile } from './link.js';

/** A site loses its uplink at `atMs` for `durationMs`. */
export interface SiteOutage {
  site: string;
  atMs: number;
  durationMs: number;
}

/** Nodes that go offline and come back, again and again. */
export interface OfflineChurn {
  /** Share of the fleet that churns, 0 … 1. */
  share: number;
  meanOnlineMs: number;
  meanOfflineMs: number;
}

/** Link conditions of a site; `*` applies to every site without its own entry. */
export interface SiteLink extends LinkProfile {
  site: string;
}

/** When random faults happen: at one moment, or each at a uniform random time in [0, within]. */
export interface FaultTiming {
  atMs?: number;
  withinMs?: number;
}

/** `count` nodes (with an accelerator, of `site` if given) lose it; back after `forMs` if given. */
export interface AcceleratorFailure extends FaultTiming {
  count: number;
  forMs?: number;
  site?: string;
}

/** `count` nodes (of `site` if given) lose power; each boots again after `downtimeMs`. */
export interface PowerCut extends FaultTiming {
  count: number;
  downtimeMs: number;
  site?: string;
}

/** Everything that goes wrong in a simulation. */
export interface FaultPlan {
  offline?: OfflineChurn;
  siteOutages: SiteOutage[];
  links: SiteLink[];
  acceleratorFailures: AcceleratorFailure[];
  powerCuts: PowerCut[];
}

/** An empty plan: nothing goes wrong. */
export function noFaults(): FaultPlan {
  return { siteOutages: [], links: [], acceleratorFailures: [], powerCuts: [] };
}

/** Default churn timing when only a share is given (`--offline-rate`). */
export const DEFAULT_MEAN_ONLINE_MS = 5 * 60_000;
export const DEFAULT_MEAN_OFFLINE_MS = 60_000;

const durationProblem = (s: string): boolean => {
  try {
    parseDuration(s);
    return true;
  } catch {
    return false;
  }
};
/** A type error message that says "is required" when the field is missing. */
const expected = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : what);
const Duration = z
  .string({ error: expected('must be a duration such as 30s, 10m or 1h') })
  .refine(durationProblem, { message: 'must be a duration such as 30s, 10m or 1h' });
const PositiveDuration = Duration.refine((s) => !durationProblem(s) || parseDuration(s) > 0, { message: 'must be longer than 0s' });
const Share = z
  .number({ error: expected('must be a number from 0 to 1') })
  .min(0, 'must be from 0 to 1')
  .max(1, 'must be from 0 to 1');
const Count = z
  .number({ error: expected('must be a whole number of at least 1') })
  .int('must be a whole number')
  .min(1, 'must be at least 1');
const SiteName = z
  .string({ error: expected('must be a site name such as site-03') })
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, 'must be a site name such as site-03');
const unknownField = (iss: { code?: string; keys?: readonly string[] }): string | undefined =>
  iss.code === 'unrecognized_keys' ? `unknown field ${(iss.keys ?? []).map((k) => `"${k}"`).join(', ')}` : undefined;

const TimingShape = { at: Duration.optional(), within: PositiveDuration.optional() };
const timingRefine = (t: { at?: string | undefined; within?: string | undefined }, ctx: z.RefinementCtx): void => {
  if ((t.at === undefined) === (t.within === undefined))
    ctx.addIssue({
      code: 'custom',
      path: t.at === undefined ? [] : ['within'],
      message: 'give either at (one moment) or within (random moments in [0, within])',
    });
};

/** The fault file's schema (strict at every level). */
const FaultFileSchema = z
  .object(
    {
      offline: z
        .object({ share: Share, meanOnline: PositiveDuration.optional(), meanOffline: PositiveDuration.optional() }, { error: unknownField })
        .strict()
        .optional(),
      siteOutages: z.array(z.object({ site: SiteName, at: Duration, duration: PositiveDuration }, { error: unknownField }).strict()).optional(),
      links: z
        .array(
          z
            .object(
              {
                site: z.union([z.literal('*'), SiteName]),
                latency: Duration.optional(),
                jitter: Duration.optional(),
                loss: z
                  .number({ error: expected('must be a share from 0 to 1') })
                  .min(0, 'must be from 0 to 1')
                  .lt(1, 'must be below 1 (a link that loses everything is an outage)')
                  .optional(),
                bandwidth: z
                  .string({ error: expected('must be a rate such as 2Mbit or 250KB/s') })
                  .refine((s) => parseBandwidth(s) !== undefined, 'must be a rate such as 2Mbit or 250KB/s')
                  .optional(),
              },
              { error: unknownField },
            )
            .strict(),
        )
        .optional(),
      acceleratorFailures: z
        .array(
          z
            .object({ count: Count, ...TimingShape, for: PositiveDuration.optional(), site: SiteName.optional() }, { error: unknownField })
            .strict()
            .superRefine(timingRefine),
        )
        .optional(),
      powerCuts: z
        .array(
          z
            .object({ count: Count, ...TimingShape, downtime: PositiveDuration.optional(), site: SiteName.optional() }, { error: unknownField })
            .strict()
            .superRefine(timingRefine),
        )
        .optional(),
    },
    { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown fault ${(iss.keys ?? []).map((k) => `"${k}"`).join(', ')}` : undefined) },
  )
  .strict();

/** `2Mbit`, `500kbit`, `1Gbit`, `250KB/s`, `1MB/s` → bytes per second; undefined when unreadable. */
export function parseBandwidth(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(bit|kbit|Mbit|Gbit|B\/s|KB\/s|MB\/s|GB\/s)$/.exec(text.trim());
  if (m === null) return undefined;
  const n = Number(m[1]);
  const unit: Record<string, number> = {
    bit: 1 / 8,
    kbit: 125,
    Mbit: 125_000,
    Gbit: 125_000_000,
    'B/s': 1,
    'KB/s': 1_000,
    'MB/s': 1_000_000,
    'GB/s': 1_000_000_000,
  };
  const bytes = n * (unit[m[2] as string] as number);
  return bytes > 0 ? bytes : undefined;
}

function fileError(file: string, line: number, message: string, hint: string, field?: string): EdgefleetError {
  return errors.config(`${file}:${line}: ${message}`, hint, { ...(field === undefined ? {} : { field }) });
}

const FAULT_HINT = 'faults are offline, siteOutages, links, acceleratorFailures and powerCuts; see "edgefleet sim --help" and packages/sim/src/faults.ts';

/** Parses a fault file's text; errors name `file:line` and the field. */
export function parseFaultFile(text: string, file: string): FaultPlan {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const err = doc.errors[0];
  if (err !== undefined)
    throw fileError(file, lineCounter.linePos(err.pos[0]).line, `YAML syntax error: ${err.message.split('\n')[0]}`, 'fix the YAML at that line');
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) throw fileError(file, 1, 'a fault file is a mapping of faults', FAULT_HINT);
  const parsed = FaultFileSchema.safeParse(value);
  if (!parsed.success) {
    // A misspelt field also makes the real one "missing": name the misspelling first.
    const issue = (parsed.error.issues.find((i) => i.code === 'unrecognized_keys') ?? parsed.error.issues[0]) as z.core.$ZodIssue;
    const path = issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const keys = issue.code === 'unrecognized_keys' ? (issue as { keys: string[] }).keys : [];
    // An unknown key is pointed at itself, not at its parent mapping.
    const at = keys.length > 0 ? [...path, keys[0] as string] : path;
    const line = lineOf(doc, lineCounter, at);
    const field = at.join('.');
    const hint =
      keys.length === 0
        ? `fix the field "${field}"`
        : path.length === 0
          ? FAULT_HINT
          : `remove "${keys[0]}" or fix its spelling (see packages/sim/src/faults.ts for every field)`;
    throw fileError(file, line, `${field === '' ? 'faults' : field}: ${issue.message}`, hint, field);
  }
  return faultPlanFromFile(parsed.data);
}

/** The line of the deepest key (or list item) on `path` that the document has. */
function lineOf(doc: Document, lineCounter: LineCounter, path: ReadonlyArray<string | number>): number {
  for (let n = path.length; n > 0; n--) {
    const parent = doc.getIn(path.slice(0, n - 1), true);
    const last = path[n - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === last);
      if (pair !== undefined && isNode(pair.key) && pair.key.range != null) return lineCounter.linePos(pair.key.range[0]).line;
    }
    if (isSeq(parent)) {
      const item = parent.items[Number(last)];
      if (isNode(item) && item.range != null) return lineCounter.linePos(item.range[0]).line;
    }
  }
  const top = doc.contents;
  return isNode(top) && top.range != null ? lineCounter.linePos(top.range[0]).line : 1;
}

function ms(s: string | undefined): number | undefined {
  return s === undefined ? undefined : parseDuration(s);
}

function timing(t: { at?: string | undefined; within?: string | undefined }): FaultTiming {
  const at = ms(t.at);
  const within = ms(t.within);
  return { ...(at === undefined ? {} : { atMs: at }), ...(within === undefined ? {} : { withinMs: within }) };
}

function faultPlanFromFile(f: z.infer<typeof FaultFileSchema>): FaultPlan {
  const plan = noFaults();
  if (f.offline !== undefined) {
    plan.offline = {
      share: f.offline.share,
      meanOnlineMs: ms(f.offline.meanOnline) ?? DEFAULT_MEAN_ONLINE_MS,
      meanOfflineMs: ms(f.offline.meanOffline) ?? DEFAULT_MEAN_OFFLINE_MS,
    };
  }
  plan.siteOutages = (f.siteOutages ?? []).map((o) => ({ site: o.site, atMs: parseDuration(o.at), durationMs: parseDuration(o.duration) }));
  plan.links = (f.links ?? []).map((l) => ({
    site: l.site,
    latencyMs: ms(l.latency) ?? 0,
    jitterMs: ms(l.jitter) ?? 0,
    loss: l.loss ?? 0,
    bandwidthBytesPerSecond: l.bandwidth === undefined ? undefined : parseBandwidth(l.bandwidth),
  }));
  plan.acceleratorFailures = (f.acceleratorFailures ?? []).map((a) => {
    const forMs = ms(a.for);
    return { count: a.count, ...timing(a), ...(forMs === undefined ? {} : { forMs }), ...(a.site === undefined ? {} : { site: a.site }) };
  });
  plan.powerCuts = (f.powerCuts ?? []).map((p) => ({
    count: p.count,
    ...timing(p),
    downtimeMs: ms(p.downtime) ?? 10_000,
    ...(p.site === undefined ? {} : { site: p.site }),
  }));
  return plan;
}

/** Parses `--site-outage SITE:DURATION@AT`, e.g. `site-03:10m@2m`. */
export function parseSiteOutage(text: string): SiteOutage {
  const m = /^([^:@]+):([^@]+)@(.+)$/.exec(text.trim());
  const hint = 'write SITE:DURATION@AT, e.g. --site-outage site-03:10m@2m (site-03 is cut off 2 minutes in, for 10 minutes)';
  const bad = (message: string): EdgefleetError => errors.config(`--site-outage ${text}: ${message}`, hint, { field: 'site-outage' });
  if (m === null) throw bad('not of the form SITE:DURATION@AT');
  const [, site, duration, at] = m as unknown as [string, string, string, string];
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(site)) throw bad(`"${site}" is not a site name`);
  let durationMs: number;
  let atMs: number;
  try {
    durationMs = parseDuration(duration);
    atMs = parseDuration(at);
  } catch {
    throw bad('the duration and the start must be durations such as 10m or 90s');
  }
  if (durationMs <= 0) throw bad('the duration must be longer than 0s');
  return { site, atMs, durationMs };
}

/** Sites a plan names that the simulation does not have (for a clear error before starting). */
export function unknownSites(plan: FaultPlan, sites: readonly string[]): string[] {
  const known = new Set(sites);
  const named = [
    ...plan.siteOutages.map((o) => o.site),
    ...plan.links.map((l) => l.site).filter((s) => s !== '*'),
    ...plan.acceleratorFailures.flatMap((a) => (a.site === undefined ? [] : [a.site])),
    ...plan.powerCuts.flatMap((p) => (p.site === undefined ? [] : [p.site])),
  ];
  return [...new Set(named.filter((s) => !known.has(s)))];
}
