import { displayFingerprint, errors, parseDuration } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { collect } from './util.js';

interface ServerFlags {
  data: string;
  listen: string;
  db?: string;
  clusterSecretFile?: string;
  hostname: string[];
  heartbeatInterval: string;
  requireSigned?: boolean;
  remoteWrite: string[];
  remoteWriteMaxAge: string;
  loki: string[];
  lokiTenant?: string;
  logRetention: string;
  unauthenticatedPerAddress: string;
  maxConnections?: string;
  nodeLogBudget: string;
  nodeSeries: string;
  nodeAlerts: string;
  watchStreamsPerToken: string;
  gitopsRoot?: string;
  gitopsMaxCloneMib: string;
  leaseDuration: string;
}

/** The shortest `--lease-duration`: a lease shorter than this expires over one slow database round trip. */
const MIN_LEASE_MS = 2_000;

/**
 * `--lease-duration`: how long the leader's lease lasts, and how often it is renewed (3/10
 * of it, so two renewals can fail before it lapses). Under 2 s, or not a duration: a clear error.
 */
export function parseLeaseDuration(text: string): { leaseMs: number; renewMs: number } {
  let ms: number;
  try {
    ms = parseDuration(text, 'lease-duration');
  } catch {
    ms = Number.NaN;
  }
  if (!(ms >= MIN_LEASE_MS)) {
    throw errors.config(
      `invalid --lease-duration "${text}": it must be a duration of at least 2s`,
      'give a duration such as 10s (the default) or 6s; shorter leases move the leader sooner after a crash but expire on one slow database round trip',
      { field: 'lease-duration' },
    );
  }
  return { leaseMs: ms, renewMs: Math.floor((ms * 3) / 10) };
}

/** `--unauthenticated-per-address`: a whole number ≥ 1, or a clear error. */
export function parseConnectionCap(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw errors.config(
      `invalid --unauthenticated-per-address "${text}"`,
      'give a whole number of connections ≥ 1, for example 64 (raise it when many nodes enroll at once from behind one NAT address)',
      { field: 'unauthenticated-per-address' },
    );
  }
  return n;
}

/** A whole number of at least 1 from a flag, or a config error naming the flag. */
function positiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw errors.config(`invalid --${flag} "${text}"`, `give a whole number of at least 1, for example --${flag} 64`, { field: flag });
  }
  return n;
}

/** `--gitops-max-clone-mib` in bytes; a clear error for anything but a positive whole number. */
function cloneLimitBytes(mib: string): number {
  const n = Number(mib);
  if (!Number.isInteger(n) || n < 1) {
    throw errors.config(`--gitops-max-clone-mib ${mib} is not a positive whole number`, 'write --gitops-max-clone-mib 256 (MiB)', {
      field: 'gitops-max-clone-mib',
    });
  }
  return n * 1024 * 1024;
}

/** `edgefleet server`: runs the control plane until SIGINT/SIGTERM. */
export function serverCommand(program: Command): void {
  program
    .command('server')
    .description('run the control plane (HTTPS API, store, fleet CA)')
    .option('--data <dir>', 'data dir: CA, TLS certificate, admin token, SQLite store', './.edgefleet')
    .option('--listen <host:port>', 'address to listen on; port 0 picks a free port', '127.0.0.1:8443')
    .option('--db <url>', 'store: sqlite:PATH or a postgres:// URL (default: SQLite in the data dir)')
    .option(
      '--cluster-secret-file <path>',
      'replicas on PostgreSQL: file (mode 0600, ≥ 32 characters) with the secret all replicas share; the CA and keys then live in the database sealed under it (artifacts too), so replicas share no volume',
    )
    .option('--hostname <name>', "extra DNS name or IP for the TLS certificate (repeatable; on replicas include the load balancer's name)", collect, [])
    .option('--heartbeat-interval <duration>', 'how often agents report; offline after 3 missed', '60s')
    .option('--require-signed', 'refuse unsigned releases at apply (default for new data dirs; remembered)')
    .option('--no-require-signed', 'accept unsigned releases (nodes that pinned a release key still refuse them)')
    .option('--remote-write <url>', 'forward node metrics to this Prometheus remote_write receiver (repeatable)', collect, [])
    .option('--remote-write-max-age <duration>', 'drop samples older than this instead of sending them (Prometheus refuses ~1h-old ones)', '1h')
    .option('--loki <url>', 'forward node logs to this Loki (base URL; repeatable)', collect, [])
    .option('--loki-tenant <id>', 'X-Scope-OrgID for Loki')
    .option('--gitops-root <dir>', 'GitOps sources may name local repositories only under this folder (default: the data dir)')
    .option('--gitops-max-clone-mib <n>', 'a remote GitOps clone or fetch larger than this many MiB fails its sync', '256')
    .option('--log-retention <duration>', 'how long the server keeps log lines and resolved alerts itself', '24h')
    .option(
      '--unauthenticated-per-address <n>',
      'connections one client address may hold before any request on them is authenticated; beyond: 429 and close (raise it for many nodes enrolling behind one NAT)',
      '64',
    )
    .option(
      '--max-connections <n>',
      'connections held at once, all together; past it a new one is closed before TLS (default: what the open-file limit allows, less a reserve)',
    )
    .option('--node-log-budget <MiB>', 'log bytes a node may upload per UTC day, in MiB; beyond it 429 quota_exceeded', '64')
    .option('--node-series <n>', 'distinct metric series kept and forwarded per node; new ones beyond it are dropped', '2000')
    .option('--node-alerts <n>', 'alert records kept per node', '200')
    .option('--watch-streams-per-token <n>', 'live dashboard streams (GET /v1/watch) open at once per API token', '16')
    .option(
      '--lease-duration <duration>',
      'replicas: how long the leader lease lasts (renewed every 3/10 of it); another replica takes over this long after the leader dies; at least 2s',
      '10s',
    )
    .action(async (opts: ServerFlags) => {
      const heartbeatIntervalMs = parseDuration(opts.heartbeatInterval, 'heartbeat-interval');
      const remoteWriteMaxAgeMs = parseDuration(opts.remoteWriteMaxAge, 'remote-write-max-age');
      const logRetentionMs = parseDuration(opts.logRetention, 'log-retention');
      const unauthenticatedPerAddress = parseConnectionCap(opts.unauthenticatedPerAddress);
      const lease = parseLeaseDuration(opts.leaseDuration);
      // Loaded on demand: the server pulls in Fastify and the SQLite driver, which other commands never need.
      const { createServerLogger, guardProcess, startServer } = await import('@edgefleet/server');
      // The process's last words (uncaught errors, unhandled rejections, heap near its limit,
      // the exit code) go to the server's log before it exits.
      const log = createServerLogger();
      guardProcess(log);
      const server = await startServer({
        logger: log,
        dataDir: opts.data,
        listen: opts.listen,
        hostnames: opts.hostname,
        heartbeatIntervalMs,
        lease,
        logRetentionMs,
        connections: {
          unauthenticatedPerAddress,
          ...(opts.maxConnections === undefined ? {} : { maxConnections: positiveInt(opts.maxConnections, 'max-connections') }),
        },
        quotas: {
          logBytesPerDay: positiveInt(opts.nodeLogBudget, 'node-log-budget') * 1024 * 1024,
          seriesPerNode: positiveInt(opts.nodeSeries, 'node-series'),
          alertsPerNode: positiveInt(opts.nodeAlerts, 'node-alerts'),
        },
        watchStreamsPerToken: positiveInt(opts.watchStreamsPerToken, 'watch-streams-per-token'),
        forward: {
          remoteWrite: opts.remoteWrite,
          remoteWriteMaxAgeMs,
          loki: opts.loki,
          ...(opts.lokiTenant === undefined ? {} : { lokiTenant: opts.lokiTenant }),
        },
        ...(opts.db === undefined ? {} : { db: opts.db }),
        ...(opts.clusterSecretFile === undefined ? {} : { clusterSecretFile: opts.clusterSecretFile }),
        ...(opts.requireSigned === undefined ? {} : { requireSigned: opts.requireSigned }),
        ...(opts.gitopsRoot === undefined ? {} : { gitopsRoot: opts.gitopsRoot }),
        gitopsMaxCloneBytes: cloneLimitBytes(opts.gitopsMaxCloneMib),
      });
      process.stdout.write(`edgefleet server listening on ${server.url}\n`);
      process.stdout.write(`dashboard: ${server.url}/ (sign in with an API token)\n`);
      process.stdout.write(`CA fingerprint: ${displayFingerprint(server.caFingerprint)} (certificate: ${server.caCertPath})\n`);
      process.stdout.write(`admin token file: ${server.adminTokenFile}${server.adminTokenCreated ? ' (created now)' : ''}\n`);
      for (const url of opts.remoteWrite) process.stdout.write(`forwarding metrics to ${url} (remote_write 1.0)\n`);
      for (const url of opts.loki) process.stdout.write(`forwarding logs to ${url} (Loki push API)\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: NodeJS.Signals): void => {
          log.info({ signal }, `stopping on ${signal}`);
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });
}
