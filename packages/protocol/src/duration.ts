import { EdgefleetError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses a duration such as `90s`, `10m`, `24h`, `7d` or `1h30m` into milliseconds.
 * A bare number is not accepted: `60` could mean seconds or milliseconds, so we make
 * the user say which.
 */
export function parseDuration(text: string, what = 'duration'): number {
  const trimmed = text.trim();
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(trimmed); m !== null; m = re.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    matched = re.lastIndex;
  }
  if (trimmed.length === 0 || matched !== trimmed.length) {
    throw new EdgefleetError({
      code: 'bad_request',
      message: `invalid ${what} "${text}"`,
      hint: 'write a number with a unit: ms, s, m, h or d (for example 90s, 10m, 24h, 7d, 1h30m)',
      field: what,
    });
  }
  // `1e400s` does not match, but 400 nines do, and their product is Infinity: a health check
  // "every Infinity ms" runs every millisecond once setTimeout clamps it (found by fuzzing).
  if (!(total <= Number.MAX_SAFE_INTEGER)) {
    throw new EdgefleetError({
      code: 'bad_request',
      message: `invalid ${what} "${text}": longer than ${Number.MAX_SAFE_INTEGER} ms`,
      hint: 'write a shorter duration (for example 7d)',
      field: what,
    });
  }
  return Math.round(total);
}

/** Formats milliseconds as the shortest exact duration string (`86400000` → `1d`). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const unit of ['d', 'h', 'm', 's', 'ms']) {
    const size = UNIT_MS[unit] as number;
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
