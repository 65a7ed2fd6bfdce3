import {
  assertValidLabels,
  EDGEFLEET_VERSION,
  EdgefleetClient,
  EdgefleetError,
  fetchPinnedCaCertificate,
  type HardwareFacts,
  type Labels,
  parseBootstrapToken,
} from '@edgefleet/protocol';
import { type Logger, pino } from 'pino';
import { newKeyAndCsr } from './identity/csr.js';
import { loadIdentity, type NodeIdentity, saveIdentity } from './identity/store.js';
import { labelsFromFacts, probeHardware } from './probe/index.js';
import { backoffDelay, jitteredInterval, renewalDueAt } from './timing.js';

/** Options of `edgefleet agent`. */
export interface AgentOptions {
  server: string;
  /** Bootstrap token; needed only until the node has enrolled. */
  token?: string;
  dataDir: string;
  /** Root for every hardware read (`/` on a Pi, a fixture folder in tests). */
  hwRoot: string;
  site?: string;
  /** Extra labels the node declares about itself. */
  labels?: Labels;
  name?: string;
  clock?: () => number;
  random?: () => number;
  /** Waits `ms` or until the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  log?: Logger;
}

/** What the agent knows about its standing with the server, for status output and tests. */
export interface AgentState {
  nodeId: string | undefined;
  lastHeartbeatAt: number | undefined;
  heartbeatIntervalMs: number;
  certNotAfter: number | undefined;
  lastRenewalAt: number | undefined;
  consecutiveFailures: number;
  lastError: string | undefined;
}

/** Errors that no retry can fix: the node must be re-enrolled or reconfigured. */
const FATAL_CODES = new Set([
  'certificate_revoked',
  'client_certificate_required',
  'token_invalid',
  'token_expired',
  'token_exhausted',
  'server_untrusted',
  'config',
]);

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * The node agent: enrolls once, then reports heartbeats and renews its certificate for as
 * long as it runs. Unreachable servers are waited out with capped, jittered backoff; only
 * errors no retry can fix (revoked, untrusted server, bad token) end it.
 */
export class Agent {
  readonly state: AgentState = {
    nodeId: undefined,
    lastHeartbeatAt: undefined,
    heartbeatIntervalMs: 60_000,
    certNotAfter: undefined,
    lastRenewalAt: undefined,
    consecutiveFailures: 0,
    lastError: undefined,
  };
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly log: Logger;
  private readonly abort = new AbortController();
  private identity: NodeIdentity | undefined;
  private client: EdgefleetClient | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? defaultSleep;
    this.log = opts.log ?? pino({ level: process.env.EDGEFLEET_LOG_LEVEL ?? 'info', base: { component: 'agent' } });
    if (opts.labels !== undefined) assertValidLabels(opts.labels);
  }

  /** Stops the loop at its next wait; `run()` then resolves. */
  stop(): void {
    this.abort.abort();
  }

  /** Probes the hardware and computes the labels to report. */
  async observe(): Promise<{ facts: HardwareFacts; labels: Labels }> {
    const facts = await probeHardware(this.opts.hwRoot, { agentVersion: EDGEFLEET_VERSION });
    const labels = { ...labelsFromFacts(facts, this.opts.site === undefined ? {} : { site: this.opts.site }), ...(this.opts.labels ?? {}) };
    return { facts, labels };
  }

  /** Enrolls if needed, then heartbeats until stopped. Rejects only on a fatal error. */
  async run(): Promise<void> {
    const signal = this.abort.signal;
    try {
      this.identity = loadIdentity(this.opts.dataDir) ?? (await this.enrollWithRetry(signal));
      if (this.identity === undefined) return; // stopped while enrolling
      this.state.nodeId = this.identity.nodeId;
      this.state.certNotAfter = this.identity.notAfter;
      this.connect();
      while (!signal.aborted) {
        const ok = await this.tick();
        await this.sleep(ok ? this.nextHeartbeatDelay() : backoffDelay(this.state.consecutiveFailures, this.random), signal);
      }
    } finally {
      await this.client?.close();
    }
  }

  /** The jittered heartbeat interval, shortened to wake up for a renewal that falls due first. */
  private nextHeartbeatDelay(): number {
    const identity = this.identity as NodeIdentity;
    const untilRenewal = renewalDueAt(identity.notBefore, identity.notAfter) - this.clock();
    return Math.min(jitteredInterval(this.state.heartbeatIntervalMs, this.random), Math.max(untilRenewal, 1_000));
  }

  /** One pass: renew when due, then report status. Returns false after a transient failure. */
  private async tick(): Promise<boolean> {
    const identity = this.identity as NodeIdentity;
    try {
      if (this.clock() >= renewalDueAt(identity.notBefore, identity.notAfter)) await this.renew();
      const { facts, labels } = await this.observe();
      const res = await (this.client as EdgefleetClient).reportStatus({ facts, labels });
      this.state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
      this.state.lastHeartbeatAt = this.clock();
      this.state.consecutiveFailures = 0;
      this.state.lastError = undefined;
      return true;
    } catch (err) {
      if (err instanceof EdgefleetError && FATAL_CODES.has(err.code)) {
        this.log.error({ code: err.code, hint: err.hint }, err.message);
        throw err;
      }
      this.state.consecutiveFailures++;
      this.state.lastError = (err as Error).message;
      this.log.warn({ failures: this.state.consecutiveFailures }, `heartbeat failed: ${(err as Error).message}`);
      return false;
    }
  }

  private connect(): void {
    const identity = this.identity as NodeIdentity;
    void this.client?.close();
    this.client = new EdgefleetClient({ server: this.opts.server, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
  }

  private async renew(): Promise<void> {
    const identity = this.identity as NodeIdentity;
    const { keyPem, csrPem } = await newKeyAndCsr();
    const res = await (this.client as EdgefleetClient).renew(csrPem);
    this.identity = saveIdentity(this.opts.dataDir, { ...identity, keyPem, certPem: res.certificate });
    this.state.certNotAfter = this.identity.notAfter;
    this.state.lastRenewalAt = this.clock();
    this.connect();
    this.log.info({ notAfter: res.notAfter }, 'certificate renewed');
  }

  private async enrollWithRetry(signal: AbortSignal): Promise<NodeIdentity | undefined> {
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        return await this.enroll();
      } catch (err) {
        if (err instanceof EdgefleetError && FATAL_CODES.has(err.code)) throw err;
        this.state.lastError = (err as Error).message;
        this.log.warn({ attempt }, `enrollment failed, will retry: ${(err as Error).message}`);
        await this.sleep(backoffDelay(attempt, this.random), signal);
      }
    }
    return undefined;
  }

  /** First start: pin the CA from the token, make a key, trade token + CSR for a certificate. */
  private async enroll(): Promise<NodeIdentity> {
    if (this.opts.token === undefined || this.opts.token.trim() === '') {
      throw new EdgefleetError({
        code: 'config',
        status: 400,
        message: `this node has not enrolled yet (no identity in ${this.opts.dataDir}) and no bootstrap token was given`,
        hint: 'pass --token or --token-file with a token from "edgefleet token create"',
      });
    }
    const parts = parseBootstrapToken(this.opts.token);
    const caPem = await fetchPinnedCaCertificate(this.opts.server, parts.caFingerprint);
    const { keyPem, csrPem } = await newKeyAndCsr();
    const { facts, labels } = await this.observe();
    const client = new EdgefleetClient({ server: this.opts.server, ca: caPem });
    try {
      const res = await client.enroll({
        token: this.opts.token,
        csr: csrPem,
        facts,
        labels,
        ...(this.opts.name === undefined ? {} : { name: this.opts.name }),
      });
      if (res.caCertificate.trim() !== caPem.trim()) {
        throw new EdgefleetError({
          code: 'server_untrusted',
          status: 0,
          message: 'the server returned a different CA than the one it serves',
          hint: 'check --server',
        });
      }
      this.state.heartbeatIntervalMs = res.heartbeatIntervalSeconds * 1000;
      // The token is not kept: from here on the certificate is the node's credential.
      const identity = saveIdentity(this.opts.dataDir, {
        nodeId: res.nodeId,
        name: res.name,
        caFingerprint: parts.caFingerprint,
        caPem,
        keyPem,
        certPem: res.certificate,
      });
      this.log.info({ nodeId: res.nodeId, name: res.name }, 'enrolled');
      return identity;
    } finally {
      await client.close();
    }
  }
}
