import { sign } from 'node:crypto';
import { expiredRenewalMessage, isExpiredClientCertificate, type NetworkConditions, type RenewResponse } from '@edgefleet/protocol';
import { EdgefleetClient, parseOneCertificate } from '@edgefleet/protocol/node';
import type { ArtifactSource } from '../artifacts/index.js';
import { newKeyAndCsr } from '../identity/csr.js';
import { type NodeIdentity, saveIdentity } from '../identity/store.js';
import type { WorkloadSupervisor } from '../workloads/supervisor.js';

/**
 * How long a metered node keeps its idle connection: longer than its 15-minute upload
 * interval plus jitter (the server keeps connections 20 minutes), so each upload reuses it.
 */
const METERED_KEEP_ALIVE_MS = 18 * 60_000;

/**
 * How long a lan node keeps an idle connection: longer than its 60-second upload interval
 * plus jitter and its heartbeat interval, so heartbeats, uploads and the long poll keep
 * reusing the same two connections (issue 18: with 5 s each of them found its connection
 * closed, and a new TLS connection about twice a minute was most of the node's bytes).
 * The server keeps a node's connection 20 minutes (connections.ts); what one costs it is
 * measured in docs/BENCHMARKS.md.
 */
export const LAN_KEEP_ALIVE_MS = 3 * 60_000;

/** What an {@link AgentSession} is made of. */
export interface SessionOptions {
  identity: NodeIdentity;
  /** The control plane's URL, or several (replicas): the client fails over between them. */
  server: string | readonly string[];
  /** Uniform [0, 1): which of several URLs is asked first (Math.random when omitted). */
  random?: () => number;
  dataDir: string;
  /** Simulated link conditions for every request (the simulator); none on a real node. */
  network?: NetworkConditions | undefined;
  /** Whether the node's telemetry profile is metered now (its connection is kept longer). */
  metered: () => boolean;
  /** Makes the workload supervisor, given where artifacts come from (this session's client). */
  supervisor: (source: () => ArtifactSource) => WorkloadSupervisor;
  /** The agent's clock: whether the certificate has expired (Date.now when omitted). */
  clock?: () => number;
}

/**
 * An enrolled node's standing with the server: who it is, the mTLS client that speaks for
 * it, and the supervisor of its workloads. All three exist for the whole session; identity
 * and client are replaced together when the certificate is renewed.
 */
export class AgentSession {
  readonly supervisor: WorkloadSupervisor;
  private current: NodeIdentity;
  private connection: EdgefleetClient;
  /** Whether the current client was made for the metered profile (long keep-alive). */
  private connectedMetered: boolean;

  constructor(private readonly opts: SessionOptions) {
    this.current = opts.identity;
    this.connectedMetered = opts.metered();
    this.connection = this.newClient();
    this.supervisor = opts.supervisor(() => ({ open: (digest, offset, signal) => this.connection.openArtifact(digest, offset, signal) }));
  }

  /** Who this node is now: its id, name, key and current certificate. */
  get identity(): NodeIdentity {
    return this.current;
  }

  /** The client for the current certificate and profile. */
  get client(): EdgefleetClient {
    return this.connection;
  }

  /** Makes a new client when the profile changed since this one was made (its keep-alive must follow). */
  followProfile(): void {
    if (this.opts.metered() !== this.connectedMetered) this.reconnect();
  }

  /**
   * A new key and certificate, saved before use; the client switches to them. A valid
   * certificate renews over mTLS; an expired one (TLS refuses it) by proof of its key, which
   * the server accepts within 30 days of expiry (docs/SECURITY.md).
   */
  async renew(): Promise<RenewResponse> {
    const { keyPem, csrPem } = await newKeyAndCsr();
    const now = (this.opts.clock ?? Date.now)();
    let res: RenewResponse;
    if (now >= this.current.notAfter) {
      res = await this.renewExpired(csrPem);
    } else {
      try {
        res = await this.connection.renew(csrPem);
      } catch (err) {
        // The server's clock says it expired although ours does not: prove the key instead.
        if (!isExpiredClientCertificate(err)) throw err;
        res = await this.renewExpired(csrPem);
      }
    }
    this.current = saveIdentity(this.opts.dataDir, { ...this.current, keyPem, certPem: res.certificate });
    this.reconnect();
    return res;
  }

  /** Renews the expired certificate without TLS client auth: its key signs the fleet, the certificate and the new CSR. */
  private async renewExpired(csrPem: string): Promise<RenewResponse> {
    const { certPem, keyPem, caFingerprint, caPem } = this.current;
    const message = expiredRenewalMessage({ caFingerprint, certificateFingerprint: parseOneCertificate(certPem).fingerprint, csr: csrPem });
    const signature = sign('sha256', Buffer.from(message), keyPem).toString('base64');
    const client = new EdgefleetClient({
      server: this.opts.server,
      ca: caPem,
      ...(this.opts.random === undefined ? {} : { random: this.opts.random }),
      ...(this.opts.network === undefined ? {} : { network: this.opts.network }),
    });
    try {
      return await client.request('renewExpired', { body: { certificate: certPem, csr: csrPem, signature } });
    } finally {
      await client.close();
    }
  }

  /** Closes the client (the supervisor's workloads are stopped by the agent). */
  async close(): Promise<void> {
    await this.connection.close();
  }

  private reconnect(): void {
    void this.connection.close();
    this.connectedMetered = this.opts.metered();
    this.connection = this.newClient();
  }

  private newClient(): EdgefleetClient {
    // Every node keeps its connections between uploads: a new TLS handshake costs more
    // bytes than an upload (docs/TELEMETRY.md). A metered node also sends no TCP probes.
    return new EdgefleetClient({
      server: this.opts.server,
      ca: this.current.caPem,
      cert: this.current.certPem,
      key: this.current.keyPem,
      ...(this.connectedMetered ? { keepAliveTimeoutMs: METERED_KEEP_ALIVE_MS, tcpKeepAlive: false } : { keepAliveTimeoutMs: LAN_KEEP_ALIVE_MS }),
      ...(this.opts.random === undefined ? {} : { random: this.opts.random }),
      ...(this.opts.network === undefined ? {} : { network: this.opts.network }),
    });
  }
}
