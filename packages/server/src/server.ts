import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errors } from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';
import type { Logger } from 'pino';
import { DatabaseArtifactStore, importArtifactDirectory } from './artifacts/database-store.js';
import { type ArtifactStorage, ArtifactStore } from './artifacts/store.js';
import { type Clock, systemClock } from './clock.js';
import { loadOrInitClusterMaterial } from './cluster/material.js';
import { readClusterSecret } from './cluster/secret.js';
import type { ServerContext } from './context.js';
import { RolloutController } from './controller/rollout-controller.js';
import { clusterDataDir, type DataDir, loadOrCreateDataDir } from './data-dir.js';
import { DEFAULT_MAX_CLONE_BYTES } from './gitops/limits.js';
import { SourcePoller } from './gitops/poller.js';
import type { AdmissionLimits } from './http/admission.js';
import { buildApp } from './http/app.js';
import type { ConnectionLimits } from './http/connections.js';
import { LeaderElector, newReplicaId, type SingletonWork } from './leader/elector.js';
import type { LeaseTiming } from './leader/lease.js';
import { createServerLogger } from './log.js';
import { type NodeQuotaLimits, NodeQuotas } from './quotas/node-quotas.js';
import { REGISTRY_SECRETS_KEY_FILE, RegistrySecretBox } from './registries/secret-box.js';
import { ChangeBus } from './replicas/change-bus.js';
import { openStore, type Store } from './store/index.js';
import { ExternalForwarding } from './telemetry/forwarders.js';
import type { ForwardingTargets, TelemetryForwarding } from './telemetry/forwarding.js';
import { pruneLatencyHistory } from './telemetry/latency-history/retention.js';
import { mintApiToken } from './tokens/service.js';

/** Options of `edgefleet server`. */
export interface ServerOptions {
  /** Data dir (default `./.edgefleet`). */
  dataDir: string;
  /** `HOST:PORT`; port 0 picks a free port. */
  listen: string;
  /** `sqlite:PATH` or `postgres://…`; default SQLite in the data dir. */
  db?: string;
  /**
   * The cluster secret of replicas on PostgreSQL: the CA and keys are kept in the database,
   * sealed under a key derived from it (cluster/material.ts), so replicas share no volume.
   * Only with a `postgres://` `db`.
   */
  clusterSecretFile?: string;
  /** Extra names for the TLS certificate (on replicas: the load balancer's name too). */
  hostnames?: string[];
  heartbeatIntervalMs?: number;
  nodeCertLifetimeMs?: number;
  /** How often the rollout controller plans (default 1 s; tests shorten it). */
  rolloutIntervalMs?: number;
  /** Refuse unsigned releases; undefined keeps what the data dir has (true when new). */
  requireSigned?: boolean;
  /** External systems to forward telemetry to (Prometheus remote_write, Loki). */
  forward?: ForwardingTargets;
  /** In-process receiver of stamped telemetry (benchmarks, tests); in addition to `forward`. */
  forwarding?: TelemetryForwarding;
  /** Local GitOps repositories must be under this folder (default: the data dir). */
  gitopsRoot?: string;
  /** The most bytes one remote GitOps clone or fetch may receive (default 256 MiB). */
  gitopsMaxCloneBytes?: number;
  /** How long the server keeps log lines and resolved alerts (default 24 h). */
  logRetentionMs?: number;
  /** Per-node quotas (log bytes a day, series, alerts); defaults in quotas/node-quotas.ts. */
  quotas?: Partial<NodeQuotaLimits>;
  /** Live streams (`GET /v1/watch`) one API token may hold open at once (default 16). */
  watchStreamsPerToken?: number;
  /** Bounds on agent requests in flight; beyond them agents get 429 + Retry-After (see http/admission.ts). */
  admission?: AdmissionLimits;
  /** Header, body and idle timeouts, and the cap on unauthenticated connections per client address (see http/connections.ts). */
  connections?: ConnectionLimits;
  /** Leader lease length and renewal period (default 10 s and 3 s; see leader/lease.ts). */
  lease?: LeaseTiming;
  /** This replica's name in the leader lease and `/metrics` (default host-pid-random). */
  replicaId?: string;
  /** How often long polls re-read the store's change marks, the fallback to change notifications (default 2 s). */
  desiredCheckIntervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** A running server. */
export interface RunningServer {
  url: string;
  port: number;
  caFingerprint: string;
  caCertPath: string;
  adminTokenFile: string;
  /** True when this start created the admin token (first start). */
  adminTokenCreated: boolean;
  store: Store;
  /** The leader election of this replica (who leads, its term; `suspend()` is a test seam). */
  leader: LeaderElector;
  /** The rollout controller (runs only while this replica leads). */
  rollouts: RolloutController;
  /** Cross-replica change notifications (PostgreSQL only). */
  changeBus: ChangeBus | undefined;
  close(): Promise<void>;
}

/** Splits `HOST:PORT` (and `[v6]:PORT`). */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen.trim());
  const port = m === null ? Number.NaN : Number(m[3]);
  if (m === null || port > 65535) {
    throw errors.config(`invalid --listen "${listen}"`, 'write HOST:PORT, for example 127.0.0.1:8443 or 0.0.0.0:8443 (port 0 picks a free one)', {
      field: 'listen',
    });
  }
  return { host: (m[1] ?? m[2]) as string, port };
}

/** Starts the control plane: data dir, store (migrated), first admin token, HTTPS listener. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger ?? createServerLogger();
  const { host, port } = parseListen(opts.listen);
  const dataPath = resolve(opts.dataDir);
  let quotas: NodeQuotas;
  try {
    quotas = new NodeQuotas(opts.quotas ?? {}, log, clock);
  } catch (err) {
    throw errors.config((err as Error).message, 'give every node quota as a whole number of at least 1', { field: 'quotas' });
  }
  const { store, dataDir, registrySecrets } = await openStoreAndKeys(opts, dataPath, clock(), log);
  let artifacts: ArtifactStorage;
  try {
    artifacts = await openArtifacts(store, dataPath, clock, log);
  } catch (err) {
    await store.close();
    throw err;
  }

  const adminTokenFile = join(dataPath, 'admin.token');
  // Under a fleet-wide lock, so of replicas starting at once on an empty database one mints it.
  const minted = await store.withAdvisoryLock('initial-admin-token', 'wait', async () => {
    if ((await store.countApiTokens('admin')) !== 0) return false;
    const { token } = await mintApiToken({ store, clock }, { role: 'admin', name: 'initial admin', ttlSeconds: null, sites: null });
    writeFileDurable(adminTokenFile, `${token}\n`, 0o600);
    return true;
  });
  const adminTokenCreated = minted.acquired && minted.value;

  // --require-signed is remembered per data dir: new ones default to true; the flag changes it.
  const requireSigned = (await store.setMetaIfAbsent('requireSigned', String(opts.requireSigned ?? true))) === 'true';
  if (opts.requireSigned !== undefined && String(opts.requireSigned) !== String(requireSigned)) {
    await store.setMeta('requireSigned', String(opts.requireSigned));
  }
  const ctx: ServerContext = {
    store,
    requireSigned: opts.requireSigned ?? requireSigned,
    events: new EventEmitter().setMaxListeners(0),
    dataDir,
    clock,
    log,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 60_000,
    nodeCertLifetimeMs: opts.nodeCertLifetimeMs ?? 7 * 86_400_000,
    artifacts,
    ...(registrySecrets === undefined ? {} : { registrySecrets }),
    quotas,
    ...(opts.watchStreamsPerToken === undefined ? {} : { watchStreamsPerToken: opts.watchStreamsPerToken }),
    gitops: { root: resolve(opts.gitopsRoot ?? dataPath), maxCloneBytes: opts.gitopsMaxCloneBytes ?? DEFAULT_MAX_CLONE_BYTES },
    ...(opts.desiredCheckIntervalMs === undefined ? {} : { desiredCheckIntervalMs: opts.desiredCheckIntervalMs }),
  };
  const replica = opts.replicaId ?? newReplicaId();
  // Singleton work (below) starts only once this replica holds the leader lease.
  const rollouts = new RolloutController(ctx, opts.rolloutIntervalMs);
  const sourcePoller = new SourcePoller(ctx);
  const logRetentionMs = opts.logRetentionMs ?? 86_400_000;
  const retention = new RetentionJobs(ctx, logRetentionMs);
  const work: SingletonWork[] = [
    { name: 'rollout controller', start: () => rollouts.start(), stop: () => rollouts.stop() },
    { name: 'GitOps polling', start: () => sourcePoller.start(), stop: () => sourcePoller.stop() },
    retention,
  ];
  const leader = new LeaderElector(store, log, work, replica, opts.lease);
  ctx.leader = leader;
  ctx.rollouts = rollouts;
  const changeBus = store.dialect === 'postgres' && opts.db !== undefined ? new ChangeBus(opts.db, ctx.events, log, replica) : undefined;
  if (changeBus !== undefined) ctx.replicas = () => changeBus.replicas;
  // Replicas on PostgreSQL share the forwarded counter totals in the database: one series per node whichever replica received its batches.
  const external = new ExternalForwarding(dataPath, opts.forward ?? {}, log, store.dialect === 'postgres' ? store.forwardTotals : undefined, clock);
  const local = opts.forwarding;
  if (!external.empty || local !== undefined) {
    ctx.forwarding = {
      metrics(series) {
        external.metrics(series);
        local?.metrics(series);
      },
      logs(lines) {
        external.logs(lines);
        local?.logs(lines);
      },
    };
  }
  const app = buildApp(ctx, { admission: opts.admission, connections: opts.connections });
  try {
    await app.listen({ host, port });
  } catch (err) {
    await external.stop();
    await store.close();
    const code = (err as { code?: string }).code;
    throw errors.startupFailed(
      `cannot listen on ${opts.listen}: ${(err as Error).message}`,
      code === 'EADDRINUSE' ? 'another process uses that port: pick another with --listen HOST:PORT (port 0 picks a free one)' : 'check --listen',
      { cause: err },
    );
  }
  const addr = app.server.address();
  const boundPort = typeof addr === 'object' && addr !== null ? addr.port : port;
  external.start();
  await changeBus?.start();
  leader.start();
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `https://${urlHost}:${boundPort}`,
    port: boundPort,
    caFingerprint: dataDir.caFingerprint,
    caCertPath: join(dataPath, 'ca.crt'),
    adminTokenFile,
    adminTokenCreated,
    store,
    leader,
    rollouts,
    changeBus,
    async close() {
      // Stops the singleton work and gives the lease back, so another replica takes over at once.
      await leader.stop();
      await changeBus?.stop();
      await app.close();
      await external.stop();
      await store.close();
    },
  };
}

/**
 * A replica that starts on a database a newer edgefleet already migrated (a rolling upgrade
 * in progress) runs, and says so: it is meant to be upgraded next.
 */
function warnIfCompatible(store: Store, log: Logger): Store {
  const history = store.migrationHistory;
  if (history?.mode === 'compatible') {
    log.warn(
      { newerMigrations: history.newer, schemaCompatibleFrom: history.compatibleFrom, latestKnownMigration: history.latestKnown },
      `compatibility mode: a newer edgefleet already migrated this database (${history.newer.join(', ')}; this server knows up to ${history.latestKnown}). ` +
        'Its schema is declared compatible with this version, so this server starts and applies no migration; upgrade this replica to the version the others run',
    );
  }
  return store;
}

/** True for the `--db` of replicas: a PostgreSQL URL. */
function isPostgresUrl(db: string | undefined): boolean {
  return db !== undefined && (db.startsWith('postgres://') || db.startsWith('postgresql://'));
}

/**
 * Opens the store and the key material, from the data dir (SQLite, or PostgreSQL without a
 * cluster secret, exactly as before) or from the database (PostgreSQL with
 * `--cluster-secret-file`). On PostgreSQL the store is opened first, so that a refusal
 * (wrong secret, or a database whose cluster material needs a secret that was not given)
 * leaves the data dir untouched.
 */
async function openStoreAndKeys(
  opts: ServerOptions,
  dataPath: string,
  now: number,
  log: Logger,
): Promise<{ store: Store; dataDir: DataDir; registrySecrets?: RegistrySecretBox }> {
  const postgres = isPostgresUrl(opts.db);
  const hostnames = opts.hostnames ?? [];
  const sqlitePath = join(dataPath, 'fleet.db');
  if (opts.clusterSecretFile !== undefined && !postgres) {
    throw errors.config(
      '--cluster-secret-file is for server replicas on PostgreSQL, and --db is not a postgres:// URL',
      'give --db postgres://USER@HOST:PORT/DB with it, or leave out --cluster-secret-file: a server on SQLite keeps its CA in its data dir',
      { field: 'cluster-secret-file' },
    );
  }
  if (!postgres) {
    const dataDir = await loadOrCreateDataDir(dataPath, hostnames, now);
    return { store: warnIfCompatible(await openStore(opts.db ?? '', sqlitePath), log), dataDir };
  }
  // Read before connecting: a bad secret file is refused without touching the database.
  const secret = opts.clusterSecretFile === undefined ? undefined : readClusterSecret(opts.clusterSecretFile);
  const store = warnIfCompatible(await openStore(opts.db ?? '', sqlitePath), log);
  try {
    if (secret === undefined || opts.clusterSecretFile === undefined) {
      if ((await store.clusterMaterial.listClusterMaterial()).size > 0) {
        throw errors.config(
          'this PostgreSQL database holds the cluster CA sealed under a cluster secret (a replica started with --cluster-secret-file initialized it), and this server was started without one',
          'start every replica with --cluster-secret-file FILE, a copy of the secret file the other replicas use',
          { field: 'cluster-secret-file' },
        );
      }
      return { store, dataDir: await loadOrCreateDataDir(dataPath, hostnames, now) };
    }
    const material = await loadOrInitClusterMaterial(store, {
      secret,
      secretFile: opts.clusterSecretFile,
      ...(existsSync(dataPath) ? { importFrom: dataPath } : {}),
      now,
    });
    if (material.created) {
      log.info(
        { imported: material.imported },
        material.imported.length > 0 ? "cluster initialized with the data dir's CA and keys" : 'cluster initialized with a new CA',
      );
    }
    return {
      store,
      dataDir: await clusterDataDir(dataPath, material.ca, hostnames, now),
      registrySecrets: new RegistrySecretBox(`the cluster material in PostgreSQL (${REGISTRY_SECRETS_KEY_FILE})`, material.registryKey),
    };
  } catch (err) {
    await store.close().catch(() => {});
    throw err;
  }
}

/**
 * Artifacts live in the database on PostgreSQL (replicas share no volume; what an earlier
 * server kept in `DATA/artifacts/` is copied in) and in `DATA/artifacts/` on SQLite.
 */
async function openArtifacts(store: Store, dataPath: string, clock: Clock, log: Logger): Promise<ArtifactStorage> {
  if (store.dialect !== 'postgres') return new ArtifactStore(join(dataPath, 'artifacts'));
  const artifacts = new DatabaseArtifactStore(store.artifactChunks, () => clock());
  await artifacts.removeStaleUploads();
  await importArtifactDirectory(dataPath, artifacts, log);
  return artifacts;
}

/**
 * Bounded retention of what the server keeps itself (full history lives in Prometheus /
 * Loki): singleton work, every 10 minutes on the leader, each delete fenced by its term.
 */
class RetentionJobs implements SingletonWork {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ctx: ServerContext,
    private readonly logRetentionMs: number,
    private readonly intervalMs = 600_000,
  ) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => {
      this.running ??= this.prune().finally(() => {
        this.running = undefined;
      });
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private async prune(): Promise<void> {
    const { store, clock, log } = this.ctx;
    const fence = this.ctx.leader?.fence;
    try {
      await store.transaction(async (tx) => {
        await fence?.(tx);
        await tx.pruneTelemetry(clock() - this.logRetentionMs);
      });
    } catch (err) {
      log.warn(`pruning telemetry failed: ${(err as Error).message}`);
    }
    try {
      await store.transaction(async (tx) => {
        await fence?.(tx);
        await pruneLatencyHistory(tx, clock());
      });
    } catch (err) {
      log.warn(`pruning latency history failed: ${(err as Error).message}`);
    }
    try {
      // Shared remote_write totals idle a day are forgotten (a series that returns restarts from 0: a counter reset).
      await store.transaction(async (tx) => {
        await fence?.(tx);
        await tx.forwardTotals.pruneForwardTotals(clock() - 86_400_000);
      });
    } catch (err) {
      log.warn(`pruning forwarded totals failed: ${(err as Error).message}`);
    }
  }
}
