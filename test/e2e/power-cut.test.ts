import { createHash, generateKeyPairSync, type KeyObject, randomInt } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { mlpModel, writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { type DeploymentManifestInput, mulberry32, type NodeWorkloadLine, ReleaseSchema } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentProcess, type AgentProcessConfig, startAgentProcess, workloadProcesses } from '../../test-support/agent-process.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * `kill -9` of an agent process at random points, during a download and during a switch,
 * as a power cut would stop it (short of losing unsynced writes). After every kill the node
 * may answer only with the old or the new revision's numbers, every blob in its store must
 * hash to its name, and a download must continue where it stopped rather than start over.
 *
 * The agent reaches the server through a {@link NetworkLink} that limits the download rate,
 * so kills land mid-download on any machine, and that can be cut, to restart a node while
 * the server is out of reach. The kill points come from a seeded PRNG; the seed is printed,
 * and EDGEFLEET_POWER_CUT_SEED=<seed> replays a run.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const NAME = 'power';
const INPUT = [1, 2, 3, 4];
/** Kills while the large model downloads, and while a new revision starts or takes over. */
const DOWNLOAD_KILLS = 8;
/** Odd, so that the alternation between two models ends on the small one. */
const SWITCH_KILLS = 3;
/** The node's download rate: the 64 MB model takes 4 s; the kill loop's runs add up to at most 8 × 0.4 s of it. */
const LINK_BYTES_PER_SECOND = 16 * 1024 * 1024;

const prng = mulberry32;

/** The node's network: a TCP proxy in front of the server, rate-limited towards the node. */
interface NetworkLink {
  url: string;
  /** Drops every connection and refuses new ones, as a pulled cable would. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

async function startNetworkLink(target: URL, bytesPerSecond: number): Promise<NetworkLink> {
  const open = new Set<Socket>();
  let up = true;
  // One link, one bandwidth: the time the link is busy until, shared by all connections.
  let busyUntil = 0;
  const server = createServer((node) => {
    if (!up) {
      node.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    const both = [node, upstream];
    for (const s of both) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        for (const t of both) t.destroy();
        open.delete(s);
      });
    }
    node.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      const now = Date.now();
      busyUntil = Math.max(busyUntil, now) + (chunk.length * 1000) / bytesPerSecond;
      node.write(chunk);
      upstream.pause();
      setTimeout(
        () => {
          if (node.writableNeedDrain) node.once('drain', () => upstream.resume());
          else upstream.resume();
        },
        Math.max(0, busyUntil - now),
      );
    });
    upstream.on('end', () => node.end());
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  const cut = (): void => {
    up = false;
    for (const s of open) s.destroy();
  };
  return {
    // The server's certificate names 127.0.0.1, so TLS goes through the proxy untouched.
    url: `https://127.0.0.1:${port}`,
    cut,
    restore() {
      up = true;
    },
    async close() {
      cut();
      await new Promise<void>((done) => server.close(() => done()));
    },
  };
}

/** A model the node may serve: its artifact and the numbers it gives for {@link INPUT}. */
interface KnownModel {
  label: string;
  digest: string;
  expected: number[];
}

/** True when `out` is `expected` up to float32 summation order (the large model sums ~10^6 terms). */
function sameNumbers(out: number[], expected: number[]): boolean {
  return out.length === expected.length && out.every((v, i) => Math.abs(v - (expected[i] as number)) <= 1e-4 * Math.max(1, Math.abs(expected[i] as number)));
}

type Answer = { kind: 'none'; error: string } | { kind: 'numbers'; numbers: number[] } | { kind: 'error'; status: number; body: string };

/** Asks for an inference; a closed port is "nothing answers", not a failure. */
async function infer(endpoint: string): Promise<Answer> {
  let res: Response;
  try {
    res = await fetch(`${endpoint}/v2/models/${NAME}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: INPUT }] }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    return { kind: 'none', error: (err as Error).message };
  }
  const body = await res.text();
  if (res.status !== 200) return { kind: 'error', status: res.status, body };
  return { kind: 'numbers', numbers: (JSON.parse(body) as { outputs: Array<{ data: number[] }> }).outputs[0]?.data ?? [] };
}

type NodeLine = NodeWorkloadLine;

describe('kill -9 of an agent during a download and during a switch', () => {
  const seed = Number(process.env.EDGEFLEET_POWER_CUT_SEED ?? randomInt(2 ** 31));
  const random = prng(seed);
  const between = (lo: number, hi: number): number => Math.floor(lo + random() * (hi - lo));
  let fleet: TestFleet;
  let link: NetworkLink;
  let key: KeyObject;
  let config: AgentProcessConfig;
  let agent: AgentProcess | undefined;
  /** Every agent process started, for the log lines of earlier runs. */
  const runs: AgentProcess[] = [];
  let small: KnownModel;
  let large: KnownModel;
  let other: KnownModel;
  let largeBytes: number;
  /** Partial download sizes seen right after each kill, oldest first. */
  const partialSizes: number[] = [];
  let firstRevision: number;
  let secondRevision: number;
  let lastRevision: number;

  const release = (version: string, model: KnownModel): Record<string, unknown> => ({
    version,
    model: { artifact: model.digest, format: 'onnx' },
    runtime: { kind: 'model-server' },
    health: { interval: '200ms', failureThreshold: 2, window: '1s' },
  });

  async function apply(version: string, model: KnownModel): Promise<number> {
    const parsed = ReleaseSchema.parse(release(version, model));
    const manifest: DeploymentManifestInput = {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: NAME },
      spec: {
        selector: 'cpu.arch=arm64',
        release: { ...parsed, signature: signRelease(parsed, key, { fleet: fleet.server.caFingerprint, deployment: NAME }) },
      },
    };
    const res = await fleet.admin.apply([manifest]);
    return res.results[0]?.revision as number;
  }

  async function nodeLine(): Promise<NodeLine | undefined> {
    return (await fleet.admin.getDeployment(NAME)).status.nodes[0];
  }

  function launch(): AgentProcess {
    agent = startAgentProcess(config);
    runs.push(agent);
    return agent;
  }

  /** Waits until the node reports `revision` running and its endpoint gives `model`'s numbers. */
  async function converged(revision: number, model: KnownModel, timeoutMs: number): Promise<NodeLine> {
    return eventually(
      async () => {
        const line = await nodeLine();
        if (line?.revision !== revision || line.state !== 'running' || line.endpoint === null) return false;
        const answer = await infer(line.endpoint);
        return answer.kind === 'numbers' && sameNumbers(answer.numbers, model.expected) && line;
      },
      timeoutMs,
      `revision ${revision} (${model.label}) running and answering`,
    );
  }

  const artifactsDir = (): string => join(config.dataDir, 'artifacts');
  const partialSize = (digest: string): number => {
    try {
      return statSync(join(artifactsDir(), 'partial', `${digest.slice(7)}.part`)).size;
    } catch {
      return 0;
    }
  };
  const hasBlob = (digest: string): boolean => existsSync(join(artifactsDir(), 'sha256', digest.slice(7)));

  /**
   * What must hold right after a kill: every blob hashes to its name, and whatever answers
   * (the endpoint the node last reported, which is the agent's own front door and so usually
   * gone with it, and every workload process it left behind) answers with one of `allowed`'s
   * numbers, never an error or other numbers.
   */
  async function checkAfterKill(allowed: KnownModel[], what: string): Promise<void> {
    const blobDir = join(artifactsDir(), 'sha256');
    for (const hex of existsSync(blobDir) ? readdirSync(blobDir) : []) {
      const actual = createHash('sha256')
        .update(readFileSync(join(blobDir, hex)))
        .digest('hex');
      expect(actual, `${what}: blob ${hex} holds other bytes`).toBe(hex);
    }
    const endpoints = new Set<string>();
    const reported = (await nodeLine())?.endpoint;
    if (reported) endpoints.add(reported);
    for (const p of workloadProcesses(config.dataDir)) endpoints.add(`http://127.0.0.1:${p.port}`);
    for (const endpoint of endpoints) {
      const answer = await infer(endpoint);
      // A leftover still loading its model says 503 on every route; that is not serving.
      if (answer.kind === 'none' || (answer.kind === 'error' && answer.status === 503)) continue;
      expect(answer, `${what}: ${endpoint} answered`).toMatchObject({ kind: 'numbers' });
      const numbers = (answer as { numbers: number[] }).numbers;
      expect(
        allowed.some((m) => sameNumbers(numbers, m.expected)),
        `${what}: ${endpoint} answered ${JSON.stringify(numbers)}, expected one of ${allowed.map((m) => `${m.label} ${JSON.stringify(m.expected)}`).join(', ')}`,
      ).toBe(true);
    }
  }

  /** `kill -9` of the agent; notes the partial download's size and checks the invariants. */
  async function powerCut(allowed: KnownModel[], what: string): Promise<void> {
    await (agent as AgentProcess).kill();
    partialSizes.push(hasBlob(large.digest) ? largeBytes : partialSize(large.digest));
    await checkAfterKill(allowed, what);
  }

  beforeAll(async () => {
    console.info(`power-cut seed ${seed} (replay with EDGEFLEET_POWER_CUT_SEED=${seed})`);
    fleet = await startTestFleet({ heartbeatIntervalMs: 300 });
    link = await startNetworkLink(new URL(fleet.server.url), LINK_BYTES_PER_SECOND);
    const pair = generateKeyPairSync('ed25519');
    key = pair.privateKey;
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);

    const smallFile = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
    small = {
      label: 'mlp-4-8-3',
      digest: (await fleet.admin.pushArtifact(createReadStream(smallFile), statSync(smallFile).size)).digest,
      // examples/models/README.md
      expected: [-1.5078125, -1.72021484375, 1.166748046875],
    };
    // Large enough that a download takes a while on loopback: 8 floats per hidden unit.
    const big = mlpModel({ inputs: 4, hidden: 2_000_000, outputs: 3, seed: 1234 });
    largeBytes = big.bytes.length;
    large = {
      label: 'mlp-4-2M-3',
      digest: (await fleet.admin.pushArtifact(Readable.from([Buffer.from(big.bytes)]), largeBytes)).digest,
      expected: Array.from(big.forward(new Float32Array(INPUT), 1)),
    };
    const seven = mlpModel({ inputs: 4, hidden: 8, outputs: 3, seed: 7 });
    other = {
      label: 'mlp-4-8-3 seed 7',
      digest: (await fleet.admin.pushArtifact(Readable.from([Buffer.from(seven.bytes)]), seven.bytes.length)).digest,
      expected: Array.from(seven.forward(new Float32Array(INPUT), 1)),
    };

    const hwRoot = join(fleet.dir, 'hw');
    await writeHardwareFixture(hwRoot, 'pi5-nohat', { serial: 'badc0ffee0000001' });
    config = {
      server: link.url,
      token: await fleet.createToken(),
      dataDir: join(fleet.dir, 'agent'),
      hwRoot,
      workloads: { crashLoopThreshold: 3, primaryRetryDelayMs: 2_000, desiredWaitSeconds: 2, reconcileIntervalMs: 100 },
    };
    // The first start compiles the agent's sources (tsx, cold on a fresh machine): on two
    // loaded cores that alone took more than 30 s in CI.
    await launch().waitForLine((l) => l.msg === 'enrolled', { timeoutMs: 120_000 });
    // Later starts reuse the identity on disk; a token would not even be looked at.
    delete config.token;
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    // Whatever a killed agent left behind and no later agent cleaned up.
    if (config !== undefined) for (const p of workloadProcesses(config.dataDir)) process.kill(p.pid, 'SIGKILL');
    await link?.close();
    await fleet?.close();
  });

  it('keeps serving the old or the new revision through kills during a download, and never loses downloaded bytes', async () => {
    firstRevision = await apply('1', small);
    await converged(firstRevision, small, 30_000);

    secondRevision = await apply('2', large);
    let launchedAt = Date.now();
    for (let k = 1; k <= DOWNLOAD_KILLS; k++) {
      const before = partialSizes.at(-1) ?? 0;
      // Odd kills land 20–400 ms into this run's transfer. Even ones at a random moment of the
      // agent's first seconds (starting up, loading its state, killing leftovers, rehashing the
      // partial) or early in the transfer. No run transfers for more than 400 ms, so the kills
      // cannot finish the download.
      const intoTransfer = k % 2 === 1 ? between(20, 400) : 400;
      const deadline = k % 2 === 1 ? Number.POSITIVE_INFINITY : launchedAt + between(0, 4_000);
      let transferSince: number | undefined;
      for (;;) {
        const now = Date.now();
        if (transferSince === undefined && (hasBlob(large.digest) || partialSize(large.digest) > before)) transferSince = now;
        if (now >= deadline || (transferSince !== undefined && now >= transferSince + intoTransfer)) break;
        if (now - launchedAt > 30_000) throw new Error(`the download made no progress in 30 s after kill ${k - 1}`);
        await sleep(5);
      }
      await powerCut([small, large], `kill ${k} during the download`);
      // A partial only grows from one kill to the next: nothing downloaded is lost.
      expect(partialSizes.at(-1), `partial size after kill ${k}`).toBeGreaterThanOrEqual(before);
      launch();
      launchedAt = Date.now();
    }
    console.info(`download: partial sizes after each kill ${partialSizes.join(', ')} of ${largeBytes} bytes`);
    // The rate limit keeps the kills inside the download, which the next case relies on.
    expect(hasBlob(large.digest)).toBe(false);
    expect(partialSizes.at(-1)).toBeGreaterThan(0);
  }, 150_000);

  it('serves the old revision after a restart mid-download while the server is out of reach', async () => {
    link.cut();
    try {
      await powerCut([small, large], 'the kill with the network cut');
      launch();
      // The agent has its last desired state (revision 2) on disk but only part of its model:
      // it must serve what it holds, revision 1, rather than nothing.
      const answer = await eventually(
        async () => {
          for (const p of workloadProcesses(config.dataDir)) {
            const a = await infer(`http://127.0.0.1:${p.port}`);
            if (a.kind === 'numbers') return a;
          }
          return false;
        },
        15_000,
        'a workload of the node answering while the server is out of reach',
      );
      expect(sameNumbers(answer.numbers, small.expected), `answered ${JSON.stringify(answer.numbers)}`).toBe(true);
    } finally {
      link.restore();
      // Once more, so the next agent starts without the backoff this one built up while cut off.
      try {
        await powerCut([small, large], 'the kill after the network came back');
      } finally {
        launch();
      }
    }
  }, 60_000);

  it('resumes the download from where the kills left it and switches to the new revision', async () => {
    await converged(secondRevision, large, 60_000);
    const finished = runs.flatMap((r) => r.lines).filter((l) => l.msg === 'artifact downloaded and verified' && l.digest === large.digest);
    expect(finished).toHaveLength(1);
    // The run that finished went on from the bytes earlier runs left instead of starting over.
    expect(finished[0]?.resumedFrom).toBeGreaterThanOrEqual(partialSizes.at(-1) as number);
    expect(finished[0]?.resumedFrom).toBeGreaterThan(0);
    // Killed agents' workloads were taken care of by their successors: one process serves.
    await eventually(() => workloadProcesses(config.dataDir).length === 1, 10_000, 'a single workload process');
  }, 90_000);

  it('keeps serving the old or the new revision through kills while a new revision starts and takes over', async () => {
    let current = large;
    let revision = 0;
    for (let k = 0; k < SWITCH_KILLS; k++) {
      // Alternate between two models so that every kill lands in a real switch: a restarted
      // agent starts the desired revision at once, so the next switch needs a new revision.
      const next = current === large ? other : large;
      const from = (agent as AgentProcess).lines.length;
      revision = await apply(`3.${k}`, next);
      // Every other kill lands while the new instance starts beside the old one, the others
      // just after it took over, while the old one is being stopped.
      const moment = k % 2 === 0 ? 'workload started' : 'switched over';
      await (agent as AgentProcess).waitForLine((l) => l.msg === moment && l.revision === revision, { from, timeoutMs: 30_000 });
      await sleep(between(0, 300));
      await powerCut([current, next], `kill ${k + 1}, after '${moment}' of revision ${revision}`);
      launch();
      await converged(revision, next, 30_000);
      await eventually(() => workloadProcesses(config.dataDir).length === 1, 10_000, `a single workload process after kill ${k + 1}`);
      current = next;
    }
    expect(current).toBe(other);
    lastRevision = revision;
  }, 150_000);

  it('takes over a workload that the killed agent had restarted after a crash', async () => {
    const before = workloadProcesses(config.dataDir);
    expect(before).toHaveLength(1);
    // Past the release's 1 s health window, a crash is a crash to heal; inside it, the agent
    // would rightly take it as a bad revision and switch back to the previous one.
    await new Promise((r) => setTimeout(r, 1_500));
    // The workload crashes; the agent restarts it (self-healing), then the power goes.
    const from = (agent as AgentProcess).lines.length;
    process.kill((before[0] as { pid: number }).pid, 'SIGKILL');
    await (agent as AgentProcess).waitForLine((l) => l.msg === 'workload started', { from, timeoutMs: 60_000 });
    await converged(lastRevision, other, 90_000);
    await powerCut([other], 'the kill after a self-healing restart');
    launch();
    await converged(lastRevision, other, 90_000);
    // The restarted instance is the killed agent's to clean up too: one process serves, not two.
    await eventually(() => workloadProcesses(config.dataDir).length === 1, 10_000, 'a single workload process');
  }, 240_000);
});
