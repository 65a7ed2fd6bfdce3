import type { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';

/** The PostgreSQL channel replicas tell each other about changes on. */
export const CHANGE_CHANNEL = 'edgefleet_changes';

/** The in-process signals relayed between replicas (ServerContext.events). */
const RELAYED = ['desired'] as const;

/** The application name prefix of every replica's LISTEN connection: how replicas count each other. */
const LISTENER_NAME = 'edgefleet-changes:';

/** How often the replicas listening on the database are counted. */
const COUNT_EVERY_MS = 10_000;

/** How long to wait before reconnecting a dropped LISTEN connection, growing to the maximum. */
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

/**
 * Cross-replica wakeups over PostgreSQL LISTEN/NOTIFY. When this process emits a change
 * signal (`desired`: long polls re-check desired state, the dashboard watch re-reads), which
 * code does after its transaction committed, the bus publishes it with `pg_notify`; when
 * another replica's notification arrives, the bus emits the same signal here. So a long
 * poll or watch on replica B wakes within moments of a change committed through replica A.
 * The periodic checks (desired-watch.ts, fleet-watch.ts) stay as the fallback for a lost
 * notification or a dropped connection. One dedicated connection listens and publishes;
 * when it drops, it is reconnected (with backoff) and a local wake covers what may have been
 * missed meanwhile. Signals coalesce: several in one turn of the event loop send one NOTIFY.
 *
 * The same connection counts the replicas (`replicas`): the LISTEN connections of this
 * fleet's database in `pg_stat_activity`, by their application name, every 10 s. Work that
 * the replicas share a pace for (the answer pacer) takes its part of it by that count.
 */
export class ChangeBus {
  private client: pg.Client | undefined;
  private stopped = true;
  private retryMs = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** Set while a remote signal is emitted here, so it is not published back. */
  private relaying = false;
  private readonly pending = new Set<string>();
  private flushScheduled = false;
  private readonly listeners = new Map<string, () => void>();
  /** Notifications received from other replicas (for tests and metrics). */
  received = 0;
  private counted = 1;
  private countTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly url: string,
    private readonly events: EventEmitter,
    private readonly log: Logger,
    private readonly replica: string,
  ) {}

  /** Connects and listens; resolves once listening (or after a first failure, retrying in the background). */
  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    for (const name of RELAYED) {
      const listener = (): void => this.publish(name);
      this.listeners.set(name, listener);
      this.events.on(name, listener);
    }
    await this.connect();
    await this.countReplicas();
    this.countTimer = setInterval(() => void this.countReplicas(), COUNT_EVERY_MS);
    this.countTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.countTimer);
    for (const [name, listener] of this.listeners) this.events.off(name, listener);
    this.listeners.clear();
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /**
   * Replicas of this fleet listening on its database, this one included, as last counted
   * (at least 1). A replica whose LISTEN connection is down is not counted meanwhile.
   */
  get replicas(): number {
    return this.counted;
  }

  /** Counts the replicas now (every 10 s on its own); keeps the last count when the query fails. */
  async countReplicas(): Promise<number> {
    const client = this.client;
    if (client === undefined) return this.counted;
    try {
      const { rows } = await client.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name like $1',
        [`${LISTENER_NAME}%`],
      );
      this.counted = Math.max(1, rows[0]?.n ?? 1);
    } catch (err) {
      this.log.warn(`change notifications: counting the replicas failed (${(err as Error).message}); keeping ${this.counted}`);
    }
    return this.counted;
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    // Named, so an operator (or a test) can tell this connection in pg_stat_activity.
    const client = new pg.Client({ connectionString: this.url, application_name: `${LISTENER_NAME}${this.replica}`.slice(0, 63) });
    let lost = false;
    const onLost = (err?: Error): void => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      client.end().catch(() => {});
      if (this.stopped) return;
      this.log.warn({ err }, `change notifications: the LISTEN connection dropped; reconnecting (periodic checks cover the gap)`);
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => this.onNotification(n.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      onLost(err as Error);
      return;
    }
    if (this.stopped || lost) {
      await client.end().catch(() => {});
      return;
    }
    const reconnected = this.retryMs > RECONNECT_MIN_MS;
    this.client = client;
    this.retryMs = RECONNECT_MIN_MS;
    // Changes made elsewhere while not listening were not notified: wake local waiters once.
    if (reconnected) this.emitLocally('desired');
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => void this.connect(), this.retryMs);
    this.reconnectTimer.unref();
    this.retryMs = Math.min(RECONNECT_MAX_MS, this.retryMs * 2);
  }

  private publish(signal: string): void {
    if (this.relaying || this.stopped) return;
    this.pending.add(signal);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const signals = [...this.pending];
      this.pending.clear();
      const client = this.client;
      if (client === undefined) return; // the periodic checks on the other replicas notice it
      const payload = JSON.stringify({ from: this.replica, signals });
      client.query('select pg_notify($1, $2)', [CHANGE_CHANNEL, payload]).catch((err: Error) => {
        this.log.warn(`change notifications: publishing failed (${err.message}); other replicas notice at their next periodic check`);
      });
    });
  }

  private onNotification(payload: string | undefined): void {
    let message: { from?: unknown; signals?: unknown };
    try {
      message = JSON.parse(payload ?? '') as typeof message;
    } catch {
      return;
    }
    if (message.from === this.replica || !Array.isArray(message.signals)) return;
    this.received++;
    for (const s of message.signals) if ((RELAYED as readonly unknown[]).includes(s)) this.emitLocally(s as string);
  }

  private emitLocally(signal: string): void {
    this.relaying = true;
    try {
      this.events.emit(signal);
    } finally {
      this.relaying = false;
    }
  }
}
