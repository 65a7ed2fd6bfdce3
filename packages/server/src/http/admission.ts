/**
 * Admission control: how much agent work the server takes on at once, and the answer it
 * gives when a storm (a whole site powering on, a fleet reconnecting after an outage)
 * brings more. Each class of agent request has a bound on the requests in flight and a
 * short wait queue; beyond both, the answer is 429 `overloaded` with `Retry-After`, which
 * agents honour (with their own jitter). Refusing early keeps latency bounded for the work
 * that was admitted, where an unbounded queue would make every request late and time out.
 *
 * Classes: `enrollment` (CSR verification and certificate signing, the expensive part:
 * enroll and renew) and `agent` (status, telemetry and log uploads). Everything else is
 * never refused: operators must be able to reach a server that is busy with its fleet, and
 * long polls and artifact downloads hold a request open while costing almost nothing.
 */
import { availableParallelism } from 'node:os';
import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** Bounds of admission control, options of `startServer`; each has a default. */
export interface AdmissionLimits {
  /** Enrollments and certificate renewals handled at once (default 2 × CPU cores). */
  enrollConcurrency?: number;
  /** Enrollments waiting for a slot before more are refused (default 8 × enrollConcurrency). */
  enrollQueue?: number;
  /** Agent status, telemetry and log uploads handled at once (default 64 × CPU cores). */
  agentConcurrency?: number;
  /** Agent uploads waiting for a slot before more are refused (default 4 × agentConcurrency). */
  agentQueue?: number;
}

/** A class of requests with its own bound; requests outside every class are never refused. */
export type AdmissionClass = 'enrollment' | 'agent';

/** Shortest and longest `Retry-After` we send, in seconds. */
export const RETRY_AFTER_MIN_SECONDS = 1;
export const RETRY_AFTER_MAX_SECONDS = 30;

/** Which class a request belongs to, from its method and path (query string ignored). */
export function admissionClassOf(method: string, url: string): AdmissionClass | undefined {
  if (method !== 'POST') return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  switch (path) {
    case '/v1/enroll':
    case '/v1/agent/renew':
    case '/v1/renew-expired':
      return 'enrollment';
    case '/v1/agent/status':
    case '/v1/agent/telemetry':
    case '/v1/agent/logs':
      return 'agent';
    default:
      return undefined;
  }
}

/** What a request gets at the door: a slot now, a place in the queue, or a refusal. */
export type Admission = { admitted: true; wait?: Promise<void> } | { admitted: false; retryAfterSeconds: number };

interface Waiter {
  resolve: () => void;
  state: 'waiting' | 'granted' | 'cancelled';
}

/**
 * The bound of one class: at most `concurrency` requests in flight, at most `queueLimit`
 * waiting (first come, first served). A refusal's `Retry-After` spreads the refused
 * requests over time at the rate the class has been draining: each refusal is promised the
 * next free moment after the work already queued and the refusals before it, so a storm of
 * agents comes back spread out instead of all at once again.
 */
export class AdmissionGate {
  private inFlight = 0;
  private readonly queue: Waiter[] = [];
  private queued = 0;
  /** Smoothed time a request of this class holds its slot. */
  private serviceMs: number;
  /** The moment (ms) the latest refusal was told to come back. */
  private promisedUntil = 0;

  constructor(
    readonly concurrency: number,
    readonly queueLimit: number,
    initialServiceMs: number,
    private readonly clock: () => number = Date.now,
  ) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`admission concurrency must be a whole number ≥ 1, not ${concurrency}`);
    if (!(Number.isInteger(queueLimit) && queueLimit >= 0)) throw new RangeError(`admission queue must be a whole number ≥ 0, not ${queueLimit}`);
    this.serviceMs = initialServiceMs;
  }

  /** Requests in flight and waiting, for diagnostics and tests. */
  get load(): { inFlight: number; queued: number } {
    return { inFlight: this.inFlight, queued: this.queued };
  }

  /**
   * Asks for a slot. Admitted requests may have to `wait` for it. `cancel` is for a client
   * that went away: it drops a waiting request from the queue and returns false, or returns
   * true when the slot had already been granted, which the caller must then `leave`.
   */
  enter(): Admission & { cancel: () => boolean } {
    if (this.inFlight < this.concurrency) {
      this.inFlight++;
      return { admitted: true, cancel: () => true };
    }
    if (this.queued < this.queueLimit) {
      const waiter: Waiter = { resolve: () => {}, state: 'waiting' };
      const wait = new Promise<void>((resolve) => {
        waiter.resolve = resolve;
      });
      this.queue.push(waiter);
      this.queued++;
      return {
        admitted: true,
        wait,
        cancel: () => {
          if (waiter.state !== 'waiting') return waiter.state === 'granted';
          waiter.state = 'cancelled';
          this.queued--;
          waiter.resolve(); // the waiting request finds its client gone and ends
          return false;
        },
      };
    }
    return { admitted: false, retryAfterSeconds: this.retryAfterSeconds(), cancel: () => false };
  }

  /** Gives back a slot after `heldMs`; the longest-waiting request gets it. */
  leave(heldMs: number): void {
    // Smoothed over roughly the last 20 requests: follows a change in load within a second.
    this.serviceMs += (Math.max(0, heldMs) - this.serviceMs) / 20;
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      if (next.state !== 'waiting') continue;
      next.state = 'granted';
      this.queued--;
      next.resolve(); // the slot passes on: inFlight stays the same
      return;
    }
    this.inFlight--;
  }

  private retryAfterSeconds(): number {
    const now = this.clock();
    // One slot frees every serviceMs / concurrency on average: that is the class's drain rate.
    const perRequestMs = Math.max(1, this.serviceMs) / this.concurrency;
    const drained = now + (this.inFlight + this.queued) * perRequestMs;
    const latest = now + RETRY_AFTER_MAX_SECONDS * 1000;
    this.promisedUntil = Math.min(latest, Math.max(this.promisedUntil, drained) + perRequestMs);
    const seconds = Math.ceil((this.promisedUntil - now) / 1000);
    return Math.min(RETRY_AFTER_MAX_SECONDS, Math.max(RETRY_AFTER_MIN_SECONDS, seconds));
  }
}

/** The gates of a server, from its options and the machine's cores. */
export function admissionGates(limits: AdmissionLimits = {}, cores = availableParallelism()): Record<AdmissionClass, AdmissionGate> {
  const enrollConcurrency = limits.enrollConcurrency ?? 2 * cores;
  const agentConcurrency = limits.agentConcurrency ?? 64 * cores;
  return {
    // Issuing one certificate takes tens of milliseconds of CPU; a status report about one.
    enrollment: new AdmissionGate(enrollConcurrency, limits.enrollQueue ?? 8 * enrollConcurrency, 50),
    agent: new AdmissionGate(agentConcurrency, limits.agentQueue ?? 4 * agentConcurrency, 2),
  };
}

const HINTS: Record<AdmissionClass, string> = {
  enrollment: 'many nodes are enrolling at once: agents retry by themselves after Retry-After; nothing to do',
  agent: 'many nodes are reporting at once: agents retry by themselves after Retry-After; if this persists, the server needs more CPU',
};

/** The minimal Fastify surface admission needs, so tests can use a plain HTTP instance. */
interface HookHost {
  addHook(name: 'onRequest', hook: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>): unknown;
}

/**
 * Installs admission control as the first `onRequest` hook, before authentication (which
 * reads the store) and before the body is read. A slot is held until the response is
 * finished or the client goes away.
 */
export function installAdmission(app: HookHost, limits: AdmissionLimits = {}, log?: Logger): Record<AdmissionClass, AdmissionGate> {
  const gates = admissionGates(limits);
  // Refusals are logged as a count every 10 s at most: a storm must not flood the log.
  const refused: Record<AdmissionClass, number> = { enrollment: 0, agent: 0 };
  let reportedAt = 0;
  const report = (): void => {
    const now = Date.now();
    if (now - reportedAt < 10_000) return;
    reportedAt = now;
    for (const cls of Object.keys(refused) as AdmissionClass[]) {
      if (refused[cls] === 0) continue;
      log?.warn({ class: cls, refused: refused[cls], ...gates[cls].load }, `overloaded: refused ${refused[cls]} ${cls} requests with 429`);
      refused[cls] = 0;
    }
  };

  app.addHook('onRequest', async (request, reply) => {
    const cls = admissionClassOf(request.method, request.url);
    if (cls === undefined) return;
    const gate = gates[cls];
    const admission = gate.enter();
    if (!admission.admitted) {
      refused[cls]++;
      report();
      const err = new EdgefleetError({
        code: 'overloaded',
        status: 429,
        message: `the server is at its limit for ${cls} requests (${gate.concurrency} in flight, ${gate.queueLimit} waiting)`,
        hint: HINTS[cls],
      });
      return reply.status(429).header('retry-after', String(admission.retryAfterSeconds)).send(err.toBody());
    }
    // 'close' comes once the response is sent or the connection is gone, whichever is first.
    let start = Date.now();
    let holding = admission.wait === undefined;
    let closed = false;
    reply.raw.once('close', () => {
      closed = true;
      if (holding) gate.leave(Date.now() - start);
      else if (admission.cancel()) gate.leave(0); // granted, but the client is gone
      holding = false;
    });
    if (admission.wait !== undefined) {
      await admission.wait;
      if (closed) return reply; // nobody to answer; the slot is back already
      holding = true;
      start = Date.now();
    }
    return undefined;
  });
  return gates;
}
