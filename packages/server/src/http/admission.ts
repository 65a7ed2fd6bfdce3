/**
 * Admission control: how much agent work the server takes on at once, and the answer it
 * gives when a storm (a whole site powering on, a fleet reconnecting after an outage)
 * brings more. Each class of agent request has a bound on the requests in flight and a
 * short wait queue; beyond both, the answer is 429 `overloaded` with `Retry-After`, which
 * agents honour (with their own jitter). Refusing early keeps latency bounded for the work
 * that was admitted, where an unbounded queue would make every request late and time out.
 *
 * Classes, by route (never by the URL's text): `enrollment` (unauthenticated: a bootstrap
 * token and a CSR), `renewal` (an enrolled node renewing its certificate: its own class, so
 * that no amount of enrollment, real or not, keeps a node from renewing before its
 * certificate expires) and `agent` (status, telemetry and log uploads). Everything else is
 * never refused: operators must be able to reach a server that is busy with its fleet, and
 * long polls and artifact downloads hold a request open while costing almost nothing.
 *
 * Within the agent class a status report (the heartbeat) goes first: it waits ahead of every
 * upload, and when the queue is full it takes the place of the upload that queued last, which
 * is refused instead: a refused report's statuses and stats wait for the agent's retry, while
 * a refused upload only waits in the node's queue (a week of telemetry fits there). In a
 * release to 7,500 nodes on two cores the uploads filled every slot and place, and most of the
 * fleet's heartbeats got 429 for minutes (docs/BENCHMARKS.md). And a refused request still
 * tells that its node is alive (`refusedAgent`: the server moves the node's lastSeen): before,
 * nodes whose heartbeats were refused for 90 s were listed offline and left out of rollouts
 * by the server's own overload.
 *
 * A slot is taken only once the request's body has arrived and fit the size limit (a
 * `preHandler` hook, issue 14): a client that sends its headers and then stalls holds a
 * connection, bounded by the body timeout (connections.ts), never a slot.
 *
 * Bodies are read before a slot is taken, so the door (an `onRequest` hook, before a byte of
 * the body is read) bounds what bodies may cost: a request of a class whose slots and queue
 * are all taken is refused there, and the bytes of the agent bodies being read or held (their
 * declared length, or the route's limit when undeclared) of telemetry and log uploads share
 * one budget (`agentBodyBytes`); beyond it, 429 with Retry-After too. Status reports are not
 * counted: they are small, and heartbeats must not queue behind other nodes' uploads. In a reconnect storm every
 * returning agent uploads its buffered telemetry and logs at once: without the door the
 * server read thousands of bodies of up to 1 MiB before refusing any, and grew past a GiB.
 */
import { availableParallelism } from 'node:os';
import { EdgefleetError, type RouteName } from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** Bounds of admission control, options of `startServer`; each has a default. */
export interface AdmissionLimits {
  /** Enrollments handled at once (default 2 × CPU cores). */
  enrollConcurrency?: number;
  /** Enrollments waiting for a slot before more are refused (default 8 × enrollConcurrency). */
  enrollQueue?: number;
  /** Certificate renewals handled at once (default 2 × CPU cores). */
  renewConcurrency?: number;
  /** Renewals waiting for a slot before more are refused (default 8 × renewConcurrency). */
  renewQueue?: number;
  /** Agent status, telemetry and log uploads handled at once (default 64 × CPU cores). */
  agentConcurrency?: number;
  /** Agent uploads waiting for a slot before more are refused (default 4 × agentConcurrency). */
  agentQueue?: number;
  /** Bytes of agent request bodies read or held at once, by declared length (default 64 MiB). */
  agentBodyBytes?: number;
}

/** Default of {@link AdmissionLimits.agentBodyBytes}: 64 full-size (1 MiB) uploads at once. */
export const AGENT_BODY_BYTES_DEFAULT = 64 * 1024 * 1024;

/** A class of requests with its own bound; requests outside every class are never refused. */
export type AdmissionClass = 'enrollment' | 'renewal' | 'agent';

/** Shortest and longest `Retry-After` we send, in seconds. */
export const RETRY_AFTER_MIN_SECONDS = 1;
export const RETRY_AFTER_MAX_SECONDS = 30;

/** Routes of a class that go ahead of the rest of it: the heartbeat. */
const URGENT_ROUTES: ReadonlySet<RouteName> = new Set<RouteName>(['reportStatus']);

/** The class of each bounded route of the table; the compiler checks the names. */
const CLASS_OF_ROUTE: Partial<Record<RouteName, AdmissionClass>> = {
  enroll: 'enrollment',
  renew: 'renewal',
  // An expired certificate's renewal is public (TLS refuses the certificate) and proves
  // its key by signature: it shares the renewal class, apart from first enrollments.
  renewExpired: 'renewal',
  reportStatus: 'agent',
  uploadTelemetry: 'agent',
  uploadLogs: 'agent',
};

/** Which class a route of the table belongs to, or undefined when it is never refused. */
export function admissionClassOf(route: RouteName): AdmissionClass | undefined {
  return CLASS_OF_ROUTE[route];
}

/** True for a route whose requests go ahead of the rest of their class (the heartbeat). */
export function admissionUrgent(route: RouteName): boolean {
  return URGENT_ROUTES.has(route);
}

/**
 * What a request gets at the door: a slot now, a place in the queue, or a refusal. A queued
 * request's `wait` settles true when it gets its slot, false when an urgent request took its
 * place (refuse it then) or its own client went away.
 */
export type Admission = { admitted: true; wait?: Promise<boolean> } | { admitted: false; retryAfterSeconds: number };

interface Waiter {
  resolve: (granted: boolean) => void;
  state: 'waiting' | 'granted' | 'cancelled' | 'displaced';
}

/**
 * The bound of one class: at most `concurrency` requests in flight, at most `queueLimit`
 * waiting (first come, first served, urgent requests ahead of the others; an urgent request
 * finding the queue full takes the place of the newest other one). A refusal's `Retry-After` spreads the refused
 * requests over time at the rate the class has been draining: each refusal is promised the
 * next free moment after the work already queued and the refusals before it, so a storm of
 * agents comes back spread out instead of all at once again.
 */
export class AdmissionGate {
  private inFlight = 0;
  /** Waiting requests, oldest first: urgent ones (served first), then the others. */
  private readonly queue: { urgent: Waiter[]; other: Waiter[] } = { urgent: [], other: [] };
  private queued = 0;
  /** Others waiting (not cancelled): the places an urgent request may take. */
  private othersWaiting = 0;
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

  /** True when `enter` would refuse now: every slot taken and the queue full (for an urgent request: of urgent ones). */
  full(urgent = false): boolean {
    return this.inFlight >= this.concurrency && this.queued >= this.queueLimit && !(urgent && this.othersWaiting > 0);
  }

  /** The `Retry-After` (seconds) of a request refused now, at the door or by `enter`. */
  refuse(): number {
    return this.retryAfterSeconds();
  }

  /**
   * Asks for a slot. Admitted requests may have to `wait` for it. `cancel` is for a client
   * that went away: it drops a waiting request from the queue and returns false, or returns
   * true when the slot had already been granted, which the caller must then `leave`.
   */
  enter(urgent = false): Admission & { cancel: () => boolean } {
    if (this.inFlight < this.concurrency) {
      this.inFlight++;
      return { admitted: true, cancel: () => true };
    }
    if (this.queued >= this.queueLimit && urgent) this.displaceNewestOther();
    if (this.queued < this.queueLimit) {
      const waiter: Waiter = { resolve: () => {}, state: 'waiting' };
      const wait = new Promise<boolean>((resolve) => {
        waiter.resolve = resolve;
      });
      (urgent ? this.queue.urgent : this.queue.other).push(waiter);
      this.queued++;
      if (!urgent) this.othersWaiting++;
      return {
        admitted: true,
        wait,
        cancel: () => {
          if (waiter.state !== 'waiting') return waiter.state === 'granted';
          waiter.state = 'cancelled';
          this.queued--;
          if (!urgent) this.othersWaiting--;
          waiter.resolve(false); // the waiting request finds its client gone and ends
          return false;
        },
      };
    }
    return { admitted: false, retryAfterSeconds: this.refuse(), cancel: () => false };
  }

  /** Gives back a slot after `heldMs`; the longest-waiting urgent request gets it, else the longest-waiting other. */
  leave(heldMs: number): void {
    // Smoothed over roughly the last 20 requests: follows a change in load within a second.
    this.serviceMs += (Math.max(0, heldMs) - this.serviceMs) / 20;
    for (const [list, urgent] of [
      [this.queue.urgent, true],
      [this.queue.other, false],
    ] as const) {
      for (let next = list.shift(); next !== undefined; next = list.shift()) {
        if (next.state !== 'waiting') continue;
        next.state = 'granted';
        this.queued--;
        if (!urgent) this.othersWaiting--;
        next.resolve(true); // the slot passes on: inFlight stays the same
        return;
      }
    }
    this.inFlight--;
  }

  /** Refuses the other request that queued last, making its place free for an urgent one. */
  private displaceNewestOther(): void {
    for (let last = this.queue.other.pop(); last !== undefined; last = this.queue.other.pop()) {
      if (last.state !== 'waiting') continue;
      last.state = 'displaced';
      this.queued--;
      this.othersWaiting--;
      last.resolve(false);
      return;
    }
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

/**
 * A budget of bytes shared by the request bodies of a class while they are read and held:
 * `take` reserves a body's declared length, or refuses when that would pass the budget.
 * One body larger than the whole budget is still let in when nothing else is reserved (the
 * route's own size limit bounds it), so no size within the limit is refused for ever.
 */
export class ByteBudget {
  private used = 0;

  constructor(readonly limit: number) {
    if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`admission body budget must be a whole number of bytes ≥ 1, not ${limit}`);
  }

  /** Bytes reserved now, for diagnostics and tests. */
  get reserved(): number {
    return this.used;
  }

  /** Reserves `bytes`; false (nothing reserved) when they do not fit. */
  take(bytes: number): boolean {
    if (this.used > 0 && this.used + bytes > this.limit) return false;
    this.used += bytes;
    return true;
  }

  give(bytes: number): void {
    this.used = Math.max(0, this.used - bytes);
  }
}

/** The gates of a server, from its options and the machine's cores. */
export function admissionGates(limits: AdmissionLimits = {}, cores = availableParallelism()): Record<AdmissionClass, AdmissionGate> {
  const enrollConcurrency = limits.enrollConcurrency ?? 2 * cores;
  const renewConcurrency = limits.renewConcurrency ?? 2 * cores;
  const agentConcurrency = limits.agentConcurrency ?? 64 * cores;
  return {
    // Issuing one certificate takes tens of milliseconds of CPU; a status report about one.
    enrollment: new AdmissionGate(enrollConcurrency, limits.enrollQueue ?? 8 * enrollConcurrency, 50),
    renewal: new AdmissionGate(renewConcurrency, limits.renewQueue ?? 8 * renewConcurrency, 50),
    agent: new AdmissionGate(agentConcurrency, limits.agentQueue ?? 4 * agentConcurrency, 2),
  };
}

const HINTS: Record<AdmissionClass, string> = {
  enrollment: 'many nodes are enrolling at once: agents retry by themselves after Retry-After; nothing to do',
  renewal: 'many nodes are renewing their certificates at once: agents retry by themselves after Retry-After, well before their certificates expire',
  agent: 'many nodes are reporting at once: agents retry by themselves after Retry-After; if this persists, the server needs more CPU',
};

/** The hook that takes a slot of one class for a request, and gives it back when the response is done. */
export type AdmissionHook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** A server's admission control: its gates, and the hook of each class for the routes of that class. */
export interface AdmissionControl {
  readonly gates: Record<AdmissionClass, AdmissionGate>;
  /** The bytes of agent bodies being read or held. */
  readonly agentBodies: ByteBudget;
  /** The `preHandler` hook of a class (the registrar installs it on the class's routes); `urgent` for the heartbeat. */
  hook(cls: AdmissionClass, urgent?: boolean): AdmissionHook;
  /**
   * The door of a class: an `onRequest` hook, before the body is read, that refuses (429)
   * when the class's slots and queue are full, and for an agent upload (`uploadBytes`: its
   * route's body limit) reserves the body's bytes (declared length, else the limit) until
   * the response is done. Status reports (`urgent`) pass without a reservation, and are
   * refused only when the class's queue holds nothing but other status reports: a node whose
   * heartbeats were refused behind other nodes' uploads could be listed offline.
   */
  door(cls: AdmissionClass, uploadBytes?: number, urgent?: boolean): AdmissionHook;
}

/**
 * Makes the gates of a server and their hooks. The registrar (routes.ts) installs a class's
 * hook as the `preHandler` of each route of that class: after authentication and after the
 * body has arrived, size-checked and parsed, right before the handler. A slot is held until
 * the response is finished or the client goes away.
 */
export function admissionControl(
  limits: AdmissionLimits = {},
  log?: Logger,
  /**
   * Told of every agent request refused with 429, after its caller was authenticated (the
   * door runs after authentication): the node that sent it is alive, and its refused
   * heartbeat must not list it offline (app.ts moves its lastSeen).
   */
  refusedAgent?: (request: FastifyRequest) => void,
): AdmissionControl {
  const gates = admissionGates(limits);
  // Refusals are logged as a count every 10 s at most: a storm must not flood the log.
  const refused: Record<AdmissionClass, number> = { enrollment: 0, renewal: 0, agent: 0 };
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

  const agentBodies = new ByteBudget(limits.agentBodyBytes ?? AGENT_BODY_BYTES_DEFAULT);
  const refuse = (request: FastifyRequest, reply: FastifyReply, cls: AdmissionClass, retryAfterSeconds: number, message: string): FastifyReply => {
    refused[cls]++;
    report();
    if (cls === 'agent') refusedAgent?.(request);
    const err = new EdgefleetError({ code: 'overloaded', message, hint: HINTS[cls] });
    return reply.status(429).header('retry-after', String(retryAfterSeconds)).send(err.toBody());
  };
  const atLimit = (cls: AdmissionClass): string => {
    const gate = gates[cls];
    return `the server is at its limit for ${cls} requests (${gate.concurrency} in flight, ${gate.queueLimit} waiting)`;
  };

  const door =
    (cls: AdmissionClass, uploadBytes?: number, urgent = false): AdmissionHook =>
    async (request, reply) => {
      const gate = gates[cls];
      // Refused before its body is read: a full class would only refuse it once read.
      if (gate.full(urgent)) return refuse(request, reply, cls, gate.refuse(), atLimit(cls));
      if (cls !== 'agent' || uploadBytes === undefined) return undefined;
      const declared = Number(request.headers['content-length']);
      // No length declared (chunked): the most the route reads.
      const bytes = Number.isFinite(declared) && declared >= 0 ? Math.min(declared, uploadBytes) : uploadBytes;
      if (!agentBodies.take(bytes)) {
        return refuse(
          request,
          reply,
          cls,
          gate.refuse(),
          `the server is reading or holding ${Math.round(agentBodies.reserved / 1048576)} MiB of agent uploads, its limit (${Math.round(agentBodies.limit / 1048576)} MiB)`,
        );
      }
      reply.raw.once('close', () => agentBodies.give(bytes));
      return undefined;
    };

  const hook =
    (cls: AdmissionClass, urgent: boolean): AdmissionHook =>
    async (request, reply) => {
      const gate = gates[cls];
      const admission = gate.enter(urgent);
      if (!admission.admitted) return refuse(request, reply, cls, admission.retryAfterSeconds, atLimit(cls));
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
        const granted = await admission.wait;
        if (closed) return reply; // nobody to answer; the slot is back already
        // A heartbeat took this upload's place in the queue: refused as if the queue had been full.
        if (!granted) return refuse(request, reply, cls, gate.refuse(), atLimit(cls));
        holding = true;
        start = Date.now();
      }
      return undefined;
    };
  const hooks = (urgent: boolean): Record<AdmissionClass, AdmissionHook> => ({
    enrollment: hook('enrollment', urgent),
    renewal: hook('renewal', urgent),
    agent: hook('agent', urgent),
  });
  const byUrgency = { urgent: hooks(true), other: hooks(false) };
  return { gates, agentBodies, hook: (cls, urgent = false) => byUrgency[urgent ? 'urgent' : 'other'][cls], door };
}
