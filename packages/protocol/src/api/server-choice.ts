/**
 * Which of several server URLs a client asks, and when a failed request may be asked again
 * elsewhere (issue 18: replicas behind several URLs). Pure: no I/O, the clock and the random
 * draw are given, so the rules are table-tested.
 *
 * - The first choice is drawn at random, so a fleet started together spreads over the URLs
 *   instead of all asking the first one.
 * - The URL that answered last is asked first next time ("remembers the one that works").
 * - A URL that failed rests for a backoff (the fleet's `backoffDelay`, half of it jittered,
 *   doubling per consecutive failure up to a minute) during which the others are asked first; it is
 *   still asked, last, when every URL is resting, so no request is refused for want of one.
 * - Only failures that say nothing about the server's identity move a request on: no
 *   connection, a TLS handshake that broke, a timeout, a 502/503/504 from a proxy or an
 *   overloaded replica. A certificate that does not chain to the pinned CA is never a reason
 *   to try elsewhere quietly: it is an error the caller sees (an attacker's URL in the list
 *   is refused, not skipped).
 */
import { backoffDelay } from '../wait.js';

/** How long at most a failed URL rests before it is asked first again. */
export const SERVER_REST_CAP_MS = 60_000;
/** The first rest of a URL that failed once (before jitter). */
export const SERVER_REST_BASE_MS = 1_000;

/** Answers that mean "this replica cannot answer now", not "your request is wrong". */
const FAILOVER_STATUSES = new Set([502, 503, 504]);

/** Error codes of a connection that could not be made, broke, or timed out (Node and undici). */
const FAILOVER_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** A certificate the pinned CA does not vouch for (or one for another name): never failed over. */
const CERTIFICATE_REJECTION = /CERT|SELF_SIGNED|UNABLE_TO|HOSTNAME|ALTNAME|UNTRUSTED|VERIFY/;

/** What one attempt on one URL came to: an answer's status, or the error the transport threw. */
export type AttemptOutcome = { status: number } | { error: unknown };

/**
 * Why `outcome` lets the request be asked of another URL, or undefined when it must not be
 * (a success, an answer from the server itself, a certificate rejection, a cancelled request).
 */
export function failoverReason(outcome: AttemptOutcome): string | undefined {
  if ('status' in outcome) return FAILOVER_STATUSES.has(outcome.status) ? `HTTP ${outcome.status}` : undefined;
  const chain = causes(outcome.error).map((cause) => {
    const { code, name, message } = cause as { code?: unknown; name?: unknown; message?: unknown };
    return { code: typeof code === 'string' ? code : '', name: String(name ?? ''), message: String(message ?? '') };
  });
  // Anywhere in the chain, a judged certificate or a cancelled request ends it here.
  for (const { code, name, message } of chain) {
    if (CERTIFICATE_REJECTION.test(code) || /certificate/i.test(message)) return undefined;
    if (name === 'AbortError' || code === 'UND_ERR_ABORTED' || code === 'ABORT_ERR') return undefined;
  }
  for (const { code, message } of chain) {
    if (FAILOVER_CODES.has(code)) return code;
    // A TLS handshake that broke without judging the certificate (a replica going down
    // mid-handshake, a load balancer resetting): another replica may complete it.
    if (/^ERR_SSL_|^ERR_TLS_/.test(code)) return code;
    if (/socket hang up|other side closed|disconnected before secure TLS connection/i.test(message)) return code === '' ? 'connection closed' : code;
  }
  return undefined;
}

/** Methods that mean the same when sent twice (RFC 9110 §9.2.1 "safe"): the only ones repeated at once. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Failures of a connection that was open and then closed under the request. */
const BROKEN_CONNECTION = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'connection closed']);

/**
 * Whether a request that failed with `error` is sent once more, at once, to the same URL.
 * Behind a load balancer a pooled keep-alive connection is bound to the replica it was
 * opened to: when that replica dies, every request sent on such a connection is closed
 * under ("other side closed"), while a new connection reaches a live replica. A safe
 * request is repeated once on a fresh connection instead of failing to its caller, whose
 * retry would wait a backoff and might again pick a doomed pooled connection. Requests that
 * change something are not repeated: the first may have been carried out.
 */
export function repeatOnFreshConnection(method: string, error: unknown): boolean {
  if (!SAFE_METHODS.has(method.toUpperCase())) return false;
  const reason = failoverReason({ error });
  return reason !== undefined && BROKEN_CONNECTION.has(reason);
}

/** The error and its `cause` chain (undici wraps the socket's error), at most 5 deep. */
function causes(err: unknown): unknown[] {
  const out: unknown[] = [];
  let current = err;
  while (current !== null && typeof current === 'object' && out.length < 5) {
    out.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return out;
}

/** Options of a {@link ServerChoice}: the draw for the first choice and for the rests' jitter. */
export interface ServerChoiceOptions {
  /** Uniform [0, 1). */
  random: () => number;
}

/**
 * The state of the choice between several URLs of one control plane. Indices refer to
 * `urls`. Callers ask {@link order} for one request, try the URLs in that order, and report
 * each outcome with {@link succeeded} or {@link failed}.
 */
export class ServerChoice {
  readonly urls: readonly string[];
  private preferredIndex: number;
  private readonly failures: number[];
  private readonly restUntil: number[];

  constructor(
    urls: readonly string[],
    private readonly opts: ServerChoiceOptions,
  ) {
    if (urls.length === 0) throw new RangeError('a server choice needs at least one URL');
    this.urls = urls;
    this.preferredIndex = Math.min(urls.length - 1, Math.floor(opts.random() * urls.length));
    this.failures = urls.map(() => 0);
    this.restUntil = urls.map(() => 0);
  }

  /** The URL asked first when none is resting: the last one that answered, or the first draw. */
  get preferred(): number {
    return this.preferredIndex;
  }

  /**
   * The URLs to try for one request, each once: from the preferred one round the list,
   * those not resting first, then the resting ones, soonest rested first.
   */
  order(now: number): number[] {
    const n = this.urls.length;
    const round = Array.from({ length: n }, (_, k) => (this.preferredIndex + k) % n);
    const ready = round.filter((i) => (this.restUntil[i] ?? 0) <= now);
    const resting = round.filter((i) => (this.restUntil[i] ?? 0) > now).sort((a, b) => (this.restUntil[a] ?? 0) - (this.restUntil[b] ?? 0));
    return [...ready, ...resting];
  }

  /** URL `i` answered: it is asked first from now on, and its failures are forgotten. */
  succeeded(i: number): void {
    this.preferredIndex = i;
    this.failures[i] = 0;
    this.restUntil[i] = 0;
  }

  /** URL `i` failed at `now`: it rests for a backoff that doubles with its consecutive failures. */
  failed(i: number, now: number): void {
    const failures = (this.failures[i] ?? 0) + 1;
    this.failures[i] = failures;
    // Half fixed, half jittered (as site-ports.ts): a failed URL always rests a little, and a
    // fleet that lost the same replica does not come back to it in step.
    const backoff = { baseMs: SERVER_REST_BASE_MS, capMs: SERVER_REST_CAP_MS };
    this.restUntil[i] = now + backoffDelay(failures - 1, { ...backoff, random: this.opts.random, jitter: 'equal' });
  }

  /** Until when URL `i` rests (0: not resting). */
  restingUntil(i: number): number {
    return this.restUntil[i] ?? 0;
  }
}
