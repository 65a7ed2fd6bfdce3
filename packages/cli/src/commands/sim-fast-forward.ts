import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { errors, parseDuration, ReleaseSchema, sleep } from '@edgefleet/protocol';
import { EdgefleetClient, endorseKey, signedTime, signRelease } from '@edgefleet/protocol/node';
import type { RunningServer } from '@edgefleet/server';
import type { FastClock, SimFlags, Simulation, SimulationOptions } from '@edgefleet/sim';
import { pino } from 'pino';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** The deployment a fast-forwarded fleet serves. */
export const FAST_FORWARD_DEPLOYMENT = 'detect';

/** `--fast-forward`: how much simulated time, from an hour to 30 days (the history the server keeps). */
export function parseFastForward(text: string): number {
  let ms: number;
  try {
    ms = parseDuration(text, 'fast-forward');
  } catch {
    throw errors.config(`--fast-forward must be a duration such as 7d or 36h, got "${text}"`, 'write a number with a unit: h or d', { field: 'fast-forward' });
  }
  if (ms < HOUR || ms > 30 * DAY)
    throw errors.config(`--fast-forward ${text} is outside 1h … 30d`, 'the server keeps 30 days of latency history: give --fast-forward 7d, say', {
      field: 'fast-forward',
    });
  return ms;
}

/**
 * Real time a fast-forward of `ms` takes: a week in about five minutes (×2,000), never less
 * than a minute. Faster would only queue uploads: the server and the agents share this
 * process and its CPU.
 */
export function fastForwardRealMs(ms: number): number {
  return Math.max(60_000, ms / 2_000);
}

function withoutDuration(o: SimulationOptions): SimulationOptions {
  const { durationMs: _, ...rest } = o;
  return rest;
}

/** A fleet of its own for `edgefleet sim --fast-forward`: an in-process server on the fleet's clock, a signed release, a token. */
export interface FastForwardSandbox {
  server: RunningServer;
  clock: FastClock;
  options: SimulationOptions;
  /** How to reach the server from another terminal. */
  connection: string;
  /** Applies the release, waits until the fleet serves it, and runs the clock fast until it is back in the present. */
  run(sim: Simulation, say: (line: string) => void, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the sandbox. The server must run in this process: its clock is the fleet's, so a
 * week of uploads lands in a week of its history. The clock starts `ms` (and two hours of
 * setup) in the past and runs at ×60 while the nodes enroll (metered nodes first report
 * after 15 simulated minutes).
 */
export async function startFastForwardSandbox(flags: SimFlags & { fastForward: string }, ms: number): Promise<FastForwardSandbox> {
  if (flags.server !== undefined)
    throw errors.config(
      '--fast-forward runs its own server in this process (the server and the nodes must share one clock): leave out --server',
      'run "edgefleet sim --fast-forward 7d --nodes 20"',
      { field: 'server' },
    );
  if (flags.profile === 'lan')
    throw errors.config(
      '--fast-forward needs --profile metered: lan nodes upload every simulated minute, which at ×2,000 is more than this process can serve',
      'leave out --profile (metered is the default with --fast-forward)',
      { field: 'profile' },
    );
  const { FastClock, catchUpSpeed } = await import('@edgefleet/sim');
  const { startServer } = await import('@edgefleet/server');
  const data = resolve(flags.data ?? mkdtempSync(join(tmpdir(), 'edgefleet-ff-')));
  mkdirSync(data, { recursive: true });
  const clock = new FastClock(Date.now() - ms - 2 * HOUR);
  clock.setSpeed(60);
  const server = await startServer({
    dataDir: join(data, 'server'),
    listen: '127.0.0.1:0',
    clock: clock.now,
    heartbeatIntervalMs: 60_000,
    // Certificates outlive the fast-forward (TLS checks them against the wall clock).
    nodeCertLifetimeMs: ms + 30 * DAY,
    logger: pino({ level: 'info' }, pino.destination({ dest: join(data, 'server.log'), sync: false })),
  });
  const ca = readFileSync(server.caCertPath, 'utf8');
  const adminToken = readFileSync(server.adminTokenFile, 'utf8').trim();
  const admin = new EdgefleetClient({ server: server.url, token: adminToken, ca });
  const close = async (): Promise<void> => {
    await admin.close();
    await server.close();
  };
  try {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    await admin.trustKey(
      publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      endorseKey(publicKey, privateKey, { fleet: server.caFingerprint, expiresAt: signedTime(Date.now() + 365 * DAY) }),
    );
    const model = Buffer.from('a compiled detector stands in here');
    const artifact = (await admin.pushArtifact(Readable.from(model), model.length)).digest;
    const release = ReleaseSchema.parse({
      version: '1.0.0',
      model: { artifact, format: 'hef' },
      runtime: { kind: 'process', command: 'detect-hailo', accelerator: 'required' },
      health: { interval: '5s', window: '15s' },
    });
    const signed = { ...release, signature: signRelease(release, privateKey, { fleet: server.caFingerprint, deployment: FAST_FORWARD_DEPLOYMENT }) };
    const nodes = Number(flags.nodes);
    const token = (await admin.createBootstrapToken({ uses: Number.isInteger(nodes) && nodes > 0 ? nodes : 1, ttlSeconds: 86_400 })).token;
    const tokenFile = join(data, 'bootstrap.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    const { parseSimFlags } = await import('@edgefleet/sim');
    const options: SimulationOptions = {
      // No admin token: the summary would read rollouts every simulated interval, thousands a
      // minute at ×2,000. No duration: it counts from the end of the fast-forward (the command's).
      ...withoutDuration(parseSimFlags({ ...flags, server: server.url, tokenFile, profile: 'metered', data: join(data, 'nodes') })),
      clock,
      dailyCycle: true,
      agent: { reconcileIntervalMs: 60_000, desiredWaitSeconds: 5, sampleIntervalMs: 60_000 },
    };
    const run = async (sim: Simulation, say: (line: string) => void, signal: AbortSignal): Promise<void> => {
      const until = async (what: string, check: () => Promise<boolean> | boolean): Promise<void> => {
        for (;;) {
          if (signal.aborted) throw errors.config(`stopped while waiting for ${what}`, '');
          if (await check()) return;
          await sleep(500, signal);
        }
      };
      await until('the nodes to report', () => sim.summary().nodes.started + sim.summary().nodes.failed >= sim.nodes.length);
      say(`${sim.summary().nodes.started} of ${sim.nodes.length} nodes enrolled and reporting; applying ${FAST_FORWARD_DEPLOYMENT} 1.0.0 (signed)`);
      await admin.apply([
        {
          apiVersion: 'edgefleet.dev/v1',
          kind: 'Deployment',
          metadata: { name: FAST_FORWARD_DEPLOYMENT },
          spec: { selector: 'hardware.ai-hat=true', release: signed },
        },
      ]);
      await until(`${FAST_FORWARD_DEPLOYMENT} to run on the nodes with an AI HAT`, async () => {
        const lines = (await admin.getDeployment(FAST_FORWARD_DEPLOYMENT)).status.nodes;
        return lines.length > 0 && lines.every((l) => l.state === 'running');
      });
      const realMs = fastForwardRealMs(clock.behind());
      clock.catchUp(catchUpSpeed(clock.behind(), realMs));
      say(`fast-forwarding ${Math.round(clock.behind() / HOUR)} simulated hours at ×${Math.round(clock.speed)} (about ${Math.ceil(realMs / 60_000)} min)`);
      let lastDay = '';
      await until('the clock to catch up', () => {
        const day = new Date(clock.now()).toISOString().slice(0, 10);
        if (day !== lastDay) say(`simulated ${day}: ${sim.summary().requests} requests so far`);
        lastDay = day;
        return !clock.fast;
      });
    };
    const connection = `--server ${server.url} --token "$(cat ${server.adminTokenFile})" --ca ${server.caCertPath}`;
    return { server, clock, options, connection, run, close };
  } catch (err) {
    await close();
    throw err;
  }
}
