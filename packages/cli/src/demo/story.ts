import { generateKeyPairSync } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { displayFingerprint, type RolloutStatus, sleep } from '@edgefleet/protocol';
import { EdgefleetClient, endorseKey, signedTime } from '@edgefleet/protocol/node';
import type { Simulation } from '@edgefleet/sim';
import { pino } from 'pino';
import { DEMO_COUNTER_IMAGES, FleetRepo } from './fleet-repo.js';

/**
 * The `npm start` demo: a control plane, a simulated fleet, a signing key and a GitOps
 * repository, then a story told in plain words — a good release rolls out in steps, a slow
 * one is stopped at its first step and rolled back, a site goes dark and catches up; beside
 * it, a container release runs on every node and its second revision moves only the layer
 * it changed. It
 * keeps running afterwards (the fleet serves, the dashboard updates) until Ctrl-C.
 */
interface DemoOptions {
  dataDir: string;
  listen: string;
  nodes: number;
  sites: number;
  seed: number;
  /** Where the repository's examples live (models, runtimes). */
  root: string;
  out?: (line: string) => void;
}

/** Why a rollout was rolled back, in words: the failing gates' messages, else the gate's reason. */
export function failedGate(s: Pick<RolloutStatus, 'gate'>): string {
  const failing = (s.gate?.gates ?? []).filter((g) => g.verdict === 'failing').map((g) => g.message);
  return failing.length > 0 ? failing.join('; ') : (s.gate?.reason ?? 'gate failed');
}

export async function runDemo(opts: DemoOptions, signal: AbortSignal): Promise<void> {
  const started = Date.now();
  const out = opts.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const say = (line: string): void => {
    const s = Math.round((Date.now() - started) / 1000);
    out(`[${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}] ${line}`);
  };
  const data = resolve(opts.dataDir);
  // A demo starts from scratch: its nodes' identities and the store belong together.
  if (existsSync(data)) rmSync(data, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });

  say(`starting the control plane (SQLite store in ${data})`);
  const { startServer } = await import('@edgefleet/server');
  const serverOptions = {
    dataDir: join(data, 'server'),
    // The demo's fleet repository is DATA/fleet-repo, beside the server's data dir.
    gitopsRoot: data,
    listen: opts.listen,
    heartbeatIntervalMs: 5_000,
    rolloutIntervalMs: 1_000,
    logger: pino({ level: 'info' }, pino.destination({ dest: join(data, 'server.log'), sync: false })),
  };
  const server = await startServer(serverOptions).catch(async (err: Error & { hint?: string }) => {
    // Port taken (another demo?): any free port will do for a demo.
    if (!/another process uses that port/.test(err.hint ?? '')) throw err;
    say(`${opts.listen} is taken; using a free port instead`);
    return startServer({ ...serverOptions, listen: opts.listen.replace(/:\d+$/, ':0') });
  });
  const ca = readFileSync(server.caCertPath, 'utf8');
  const adminToken = readFileSync(server.adminTokenFile, 'utf8').trim();
  const admin = new EdgefleetClient({ server: server.url, token: adminToken, ca });
  out('');
  out(`  server:          ${server.url}`);
  out(`  dashboard:       ${server.url}/`);
  out(`  admin token:     ${server.adminTokenFile}`);
  out(`  CA fingerprint:  ${displayFingerprint(server.caFingerprint)}`);
  out(`  try:             npx edgefleet nodes list --server ${server.url} --token-file ${server.adminTokenFile} --ca ${server.caCertPath}`);
  out('');

  let sim: Simulation | undefined;
  try {
    say('creating a release signing key; the server trusts its public half only');
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(join(data, 'release.key'), privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    // The first key signs its own expiry; a year is plenty for a demo.
    const expiresAt = signedTime(Date.now() + 365 * 86_400_000);
    await admin.trustKey(
      publicKey.export({ format: 'pem', type: 'spki' }).toString(),
      endorseKey(publicKey, privateKey, { fleet: server.caFingerprint, expiresAt }),
    );

    const push = async (file: string): Promise<string> => (await admin.pushArtifact(createReadStream(file), statSync(file).size)).digest;
    const primary = await push(join(opts.root, 'examples/models/mlp-4-8-3.stub.json'));
    const fallback = await push(join(opts.root, 'examples/models/mlp-4-8-3.onnx'));
    say('pushed the model (accelerator build and CPU fallback) to the artifact store');

    const repo = new FleetRepo(join(data, 'fleet-repo'), privateKey, { primary, fallback }, server.caFingerprint);
    await repo.init();
    await repo.release('1.0.0', 'first release');
    await repo.container('1.0.0', DEMO_COUNTER_IMAGES[0], 'people counter, as a container image');
    await admin.createSource({ name: 'fleet', url: repo.dir, path: 'fleet', interval: '5s' });
    say(`GitOps: the server follows ${repo.dir} (fleet/detect.yaml, fleet/count.yaml); every commit is a change to the fleet`);

    const token = (await admin.createBootstrapToken({ uses: opts.nodes + 100, ttlSeconds: 86_400 })).token;
    const { startSimulation, formatSummaryLine } = await import('@edgefleet/sim');
    say(`powering on ${opts.nodes} simulated Raspberry Pi 5 nodes in ${opts.sites} sites (real agents; simulated HATs, inference and links)`);
    sim = await startSimulation({
      server: server.url,
      token,
      nodes: opts.nodes,
      sites: opts.sites,
      seed: opts.seed,
      adminToken,
      dataDir: join(data, 'nodes'),
    });
    await sim.whenStarted();
    const nodes = await admin.listNodes();
    const kinds = new Map<string, number>();
    for (const n of nodes.items) {
      const k = n.labels['ai.accelerator'] ?? 'no HAT (CPU fallback)';
      kinds.set(k, (kinds.get(k) ?? 0) + 1);
    }
    say(`${nodes.items.length} nodes enrolled, each with its own certificate: ${[...kinds].map(([k, v]) => `${v} ${k}`).join(', ')}`);

    const rollout = async (): Promise<RolloutStatus | undefined> => {
      try {
        return await admin.rolloutStatus('detect');
      } catch {
        return undefined;
      }
    };
    /** Narrates a rollout of `revision` until it ends; returns its last status. */
    const follow = async (revision: number): Promise<RolloutStatus> => {
      let last = '';
      for (;;) {
        if (signal.aborted) throw new Error('stopped by Ctrl-C');
        const s = await rollout();
        if (s !== undefined && s.revision === revision) {
          const line =
            s.phase === 'Succeeded'
              ? `revision ${revision}: rollout succeeded — ${s.nodes.updated} of ${s.nodes.total} nodes updated${s.nodes.deferred > 0 ? `, ${s.nodes.deferred} offline ones catch up when they return` : ''}`
              : s.phase === 'RolledBack'
                ? `revision ${revision}: rolled back (${failedGate(s)}); ${s.nodes.rolledBack} node(s) ${s.fromRevision === null ? 'stopped running it' : `went back to revision ${s.fromRevision}`}`
                : `revision ${revision}: step ${s.step}/${s.steps}, ${s.nodes.updated}/${s.nodes.total} nodes updated${s.nodes.deferred > 0 ? `, ${s.nodes.deferred} offline and deferred` : ''}${s.gate === null ? '' : ` — gate ${s.gate.result}: ${s.gate.reason}`}`;
          if (line !== last) say(line);
          last = line;
          if (s.phase === 'Succeeded' || s.phase === 'RolledBack' || s.phase === 'Aborted') return s;
        }
        await sleep(1_000);
      }
    };

    say('release 1.0.0 is the first: the nodes with an AI HAT download it, check its signature and start it, in steps');
    say(`meanwhile every node pulls the container release "count" (${DEMO_COUNTER_IMAGES[0].split('@')[0]}, pinned by digest) and runs it with podman`);
    await follow(1);
    /** What the nodes pulled of a container image: how many nodes, MB each (from the simulator's link totals). */
    const pulled = (image: string): string => {
      const p = sim?.summary().images[image];
      return p === undefined ? 'nothing pulled yet' : `${p.nodes} nodes pulled ${(p.bytesPerNode / 1e6).toFixed(1)} MB each`;
    };
    /**
     * Nodes running revision `revision` of `count`, once every node does or after 20 s at most
     * (the pulls ran while the detector rolled out, so this rarely waits).
     */
    const counting = async (revision: number): Promise<number> => {
      const running = async (): Promise<number> =>
        (await admin.getDeployment('count')).status.nodes.filter((n) => n.revision === revision && n.state === 'running').length;
      for (let i = 0; i < 20 && !signal.aborted && (await running()) < opts.nodes; i++) await sleep(1_000);
      return running();
    };
    say(`container release count 1.0.0 runs on ${await counting(1)} of ${opts.nodes} nodes: ${pulled(DEMO_COUNTER_IMAGES[0])}`);

    await repo.release('1.1.0', 'a better model');
    await repo.container('1.1.0', DEMO_COUNTER_IMAGES[1], 'people counter with one layer changed');
    say('committed release 1.1.0: it goes to 5% of the nodes, then 10%, 50%, 100%, spread over sites and HATs, gated on P95 latency and errors against 1.0.0');
    say('and count 1.1.0, a new image digest that shares its base layers with 1.0.0: each node pulls only the layer that changed');
    await follow(2);
    say(`container release count 1.1.0 runs on ${await counting(2)} of ${opts.nodes} nodes: ${pulled(DEMO_COUNTER_IMAGES[1])}`);

    await repo.release('1.2.0', 'a model three times slower', { 'sim.edgefleet.dev/latency-multiplier': '3' });
    say('committed release 1.2.0, which is slower (the simulator makes it 3x slower); watch the gate');
    await follow(3);
    const blast = sim.ranRevision('detect', 3);
    say(`blast radius of the bad release: ${blast.length} of ${opts.nodes} nodes ever ran it (${blast.join(', ')})`);

    const site = sim.sites[Math.min(2, sim.sites.length - 1)] as string;
    sim.setSiteOutage(site, true);
    say(`${site} loses its uplink (all its nodes go dark, and keep serving locally)`);
    await repo.release('1.2.1', 'the fixed model');
    say('committed release 1.2.1: the rollout goes on without the dark site; its nodes are deferred, not failed');
    const outage = sleep(60_000).then(() => {
      sim?.setSiteOutage(site, false);
      say(`${site} is back online: its nodes report their queued telemetry and catch up on revision 4`);
    });
    const fixed = await follow(4);
    await outage;
    for (let i = 0; fixed.phase === 'Succeeded' && i < 60; i++) {
      const d = await admin.getDeployment('detect');
      const behind = d.status.nodes.filter((n) => n.revision !== 4).length;
      if (behind === 0) break;
      await sleep(2_000);
    }
    say('the story is done. The fleet keeps running: open the dashboard, or try the CLI above. Ctrl-C stops everything.');
    while (!signal.aborted) {
      await sleep(30_000, signal);
      if (!signal.aborted) say(formatSummaryLine(sim.summary()));
    }
  } finally {
    say('stopping the fleet and the server');
    await sim?.stop().catch(() => undefined);
    await admin.close();
    await server.close();
  }
}
