import { errors } from '@edgefleet/protocol';
import type { LogLevel } from './level.js';

/**
 * Sampling for chatty workloads, so one model server printing every request cannot eat a
 * cellular node's data plan. Per stream (source + stream: a deployment's stdout, its stderr,
 * the agent), every warn and error line is kept; info and debug lines pass through a token
 * bucket — `burst` lines at once, refilled at `ratePerSecond` — and the lines it refuses are
 * counted per stream, so the server can show "1,234 lines suppressed" where they were.
 * Warnings and errors do not take tokens: a storm of errors never starves the info lines
 * around it, and is never thinned out.
 */

/** Options of `LogSampler`. */
interface LogSamplerOptions {
  /** Info/debug lines per second per stream, in the long run (default 5). */
  ratePerSecond?: number;
  /** Info/debug lines a stream may write at once after a quiet spell (default 50). */
  burst?: number;
  /** Milliseconds; injected so tests and the simulator drive time. */
  clock?: () => number;
}

/** Info/debug lines suppressed on one stream since the last `drainSuppressed`. */
export interface SuppressedCount {
  source: string;
  stream: string;
  count: number;
}

interface Bucket {
  source: string;
  stream: string;
  tokens: number;
  at: number;
  suppressed: number;
}

/** The per-stream token buckets. */
export class LogSampler {
  private readonly ratePerMs: number;
  private readonly burst: number;
  private readonly clock: () => number;
  private readonly buckets = new Map<string, Bucket>();
  private suppressedSinceStart = 0;

  constructor(opts: LogSamplerOptions = {}) {
    const rate = opts.ratePerSecond ?? 5;
    const burst = opts.burst ?? 50;
    if (!Number.isFinite(rate) || rate < 0) {
      throw errors.config(
        `log sampling rate ${rate} is not a number of lines per second ≥ 0`,
        'set ratePerSecond to e.g. 5 (0 keeps the first burst of info lines and then mutes them)',
      );
    }
    if (!Number.isFinite(burst) || burst < 1) {
      throw errors.config(`log sampling burst ${burst} must be at least 1 line`, 'set burst to e.g. 50');
    }
    this.ratePerMs = rate / 1000;
    this.burst = burst;
    this.clock = opts.clock ?? Date.now;
  }

  /** Whether a line of `level` on this stream is kept; a refused line is counted. */
  admit(source: string, stream: string, level: LogLevel): boolean {
    if (level === 'warn' || level === 'error') return true;
    const key = `${source}\u0000${stream}`;
    const now = this.clock();
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = { source, stream, tokens: this.burst, at: now, suppressed: 0 };
      this.buckets.set(key, bucket);
    } else if (now > bucket.at) {
      // A clock that steps back refills nothing; it does not take tokens away either.
      bucket.tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.ratePerMs);
      bucket.at = now;
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return true;
    }
    bucket.suppressed++;
    this.suppressedSinceStart++;
    return false;
  }

  /** The suppressed counts per stream since the last call, and resets them. Streams with none are left out. */
  drainSuppressed(): SuppressedCount[] {
    const out: SuppressedCount[] = [];
    for (const bucket of this.buckets.values()) {
      if (bucket.suppressed === 0) continue;
      out.push({ source: bucket.source, stream: bucket.stream, count: bucket.suppressed });
      bucket.suppressed = 0;
    }
    return out;
  }

  /** Lines suppressed since this sampler was created (for `edgefleet_agent_log_lines_suppressed_total`). */
  get suppressedTotal(): number {
    return this.suppressedSinceStart;
  }

  /** Forgets the buckets of streams that went away (a deployment removed), so the map does not grow forever. */
  forgetSource(source: string): void {
    for (const [key, bucket] of this.buckets) if (bucket.source === source && bucket.suppressed === 0) this.buckets.delete(key);
  }
}
