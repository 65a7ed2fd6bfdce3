import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomBytes } from 'node:crypto';
import { chmodSync, createReadStream, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type DeploymentManifestInput, ReleaseSchema } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { trustRootKey } from '../../test-support/release-keys.js';

/**
 * Issue 14, finding 8: what a release can make a node run. The attacks are real: a real
 * server, a real agent, the built-in model server as a child process.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200 };

/** A Deployment of `release`, signed with `key` (the server requires signed releases). */
function manifest(name: string, release: Record<string, unknown>, key: { fleet: string; privateKey: KeyObject }): DeploymentManifestInput {
  const parsed = ReleaseSchema.parse(release);
  const signed = { ...parsed, signature: signRelease(parsed, key.privateKey, { fleet: key.fleet, deployment: name }) };
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name }, spec: { selector: 'cpu.arch=arm64', release: signed } };
}

/** A release key the fleet trusts as its root; returns its private half and the fleet it signs for. */
async function trustedKey(fleet: TestFleet): Promise<{ fleet: string; privateKey: KeyObject }> {
  const pair = generateKeyPairSync('ed25519');
  await trustRootKey(fleet.admin, fleet.server.caFingerprint, pair);
  return { fleet: fleet.server.caFingerprint, privateKey: pair.privateKey };
}

describe('a release environment that injects code into the built-in model server', () => {
  let fleet: TestFleet;
  let artifact: string;
  let evilDir: string;
  let key: Awaited<ReturnType<typeof trustedKey>>;

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    key = await trustedKey(fleet);
    artifact = (await fleet.admin.pushArtifact(createReadStream(MODEL), statSync(MODEL).size)).digest;
    evilDir = mkdtempSync(join(tmpdir(), 'edgefleet-evil-'));
    await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST });
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
    rmSync(evilDir, { recursive: true, force: true });
  });

  it('is refused at apply time (NODE_OPTIONS=--require, LD_PRELOAD, a name that is no variable name), and the code never runs', async () => {
    const marker = join(evilDir, 'ran');
    const evil = join(evilDir, 'evil.cjs');
    writeFileSync(evil, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, String(process.getuid()));\n`);
    const release = (env: Record<string, string>): Record<string, unknown> => ({ version: '1.0.0', model: { artifact, format: 'onnx' }, env });

    const attempt = fleet.admin.apply([manifest('detect', release({ NODE_OPTIONS: `--require ${evil}` }), key)]);
    await expect(attempt).rejects.toMatchObject({
      status: 400,
      code: 'invalid_manifest',
      message: expect.stringContaining('NODE_OPTIONS'),
      hint: expect.stringContaining('loader and runtime variables'),
    });
    await expect(fleet.admin.apply([manifest('detect', release({ LD_PRELOAD: '/tmp/x.so' }), key)])).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('LD_PRELOAD'),
    });
    await expect(
      fleet.admin.apply([manifest('detect', { ...release({}), runtime: { kind: 'model-server', env: { PYTHONPATH: '/tmp' } } }, key)]),
    ).rejects.toMatchObject({ status: 400, message: expect.stringContaining('PYTHONPATH') });
    const badName = {
      apiVersion: 'edgefleet.dev/v1',
      kind: 'Deployment',
      metadata: { name: 'detect' },
      spec: { selector: 'cpu.arch=arm64', release: release({ 'A=B': 'x' }) },
    };
    await expect(fleet.admin.apply([badName as DeploymentManifestInput])).rejects.toMatchObject({ status: 400, message: expect.stringContaining('A=B') });

    // A harmless variable still goes through, and the workload serves; no injected code ran.
    await fleet.admin.apply([manifest('detect', release({ LOG_LEVEL: 'info' }), key)]);
    await eventually(async () => (await fleet.admin.getDeployment('detect')).status.nodes.some((l) => l.state === 'running'), 30_000, 'the workload serving');
    expect(existsSync(marker)).toBe(false);
  }, 60_000);
});

const IS_ROOT = process.getuid?.() === 0;

/**
 * A workload that reports what it can reach: its uid and groups, whether it can read the
 * agent's key file and list the agent's data folder. It answers the OIP health path so the
 * agent keeps it running.
 */
const PROBE_WORKLOAD = `
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
const attempt = (f) => { try { f(); return 'ok'; } catch (err) { return err.code ?? String(err); } };
createServer((req, res) => {
  if (req.url === '/v2/health/ready') return res.end('ok');
  const status = readFileSync('/proc/self/status', 'utf8');
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({
    uid: process.getuid(),
    gid: process.getgid(),
    groups: process.getgroups(),
    noNewPrivs: /NoNewPrivs:\\s*1/.test(status),
    readKey: attempt(() => readFileSync(process.env.AGENT_KEY)),
    listData: attempt(() => readdirSync(process.env.AGENT_DATA)),
    model: attempt(() => readFileSync(process.env.EDGEFLEET_MODEL_PATH)),
    envKeys: Object.keys(process.env).sort(),
  }));
}).listen(Number(process.env.EDGEFLEET_PORT), '127.0.0.1');
`;

/** The node's key file (named in identity.json). */
function keyFileOf(dataDir: string): string {
  const identity = JSON.parse(readFileSync(join(dataDir, 'identity.json'), 'utf8')) as { keyFile: string };
  return join(dataDir, identity.keyFile);
}

/**
 * Whether an unprivileged user can reach `path` (every folder above it searchable by others,
 * the file readable): the built-in model server runs from this checkout, which a CI machine
 * may clone under a closed folder such as /root.
 */
function openToOthers(path: string): boolean {
  if ((statSync(path).mode & 0o004) === 0) return false;
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/** Removes a test's user and its group, also while a process of it is still exiting. */
function removeUser(name: string): void {
  for (const [cmd, args] of [
    ['userdel', ['--force', name]],
    ['groupdel', [name]],
  ] as const) {
    try {
      execFileSync(cmd, args, { stdio: 'ignore' });
    } catch {
      // Never created (the test failed before), or removed with the user: nothing to remove.
    }
  }
}

describe.skipIf(!IS_ROOT)('workloads run as a user of their own (the agent runs as root)', () => {
  // A unique name: tests on a shared CI machine must not collide, and the user is removed after.
  const userName = `efw-${randomBytes(4).toString('hex')}`;
  let fleet: TestFleet;
  let key: Awaited<ReturnType<typeof trustedKey>>;
  let artifact: string;
  let scripts: string;
  let agent: TestAgent;

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    key = await trustedKey(fleet);
    artifact = (await fleet.admin.pushArtifact(createReadStream(MODEL), statSync(MODEL).size)).digest;
    scripts = mkdtempSync(join(tmpdir(), 'edgefleet-probe-'));
    chmodSync(scripts, 0o755); // the workload user must be able to read its program
    writeFileSync(join(scripts, 'probe.mjs'), PROBE_WORKLOAD, { mode: 0o644 });
    agent = await fleet.startAgent('pi5-nohat', {
      token: await fleet.createToken(),
      workloads: FAST,
      workloadUser: userName,
      workloadDir: join(scripts, 'work'),
    });
    await eventually(() => agent.agent.state.lastHeartbeatAt !== undefined, 20_000, 'the agent enrolled');
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
    rmSync(scripts, { recursive: true, force: true });
    removeUser(userName);
  });

  const uidOf = (name: string): number => Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  const statusOf = (pid: number): string => readFileSync(`/proc/${pid}/status`, 'utf8');

  it('creates the user, and the built-in model server runs as it: not uid 0, no_new_privs, serving its model through fd 3', async (ctx) => {
    const uid = uidOf(userName);
    expect(uid).not.toBe(0);
    const entry = join(ROOT, 'packages/agent/src/model-server/main.ts');
    if (!openToOthers(entry)) {
      // Said plainly rather than failing: the workload user cannot read this checkout.
      console.warn(`skipped: ${entry} is not readable by other users, so ${userName} cannot run the model server from this checkout`);
      ctx.skip();
    }
    await fleet.admin.apply([manifest('detect', { version: '1.0.0', model: { artifact, format: 'onnx' } }, key)]);
    const line = await eventually(
      async () => (await fleet.admin.getDeployment('detect')).status.nodes.find((l) => l.state === 'running'),
      30_000,
      'the model server serving',
    );
    const pid = agent.agent.workloadInstances().get('detect')?.active?.pid as number;
    const status = statusOf(pid);
    expect(status).toMatch(new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'));
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(status).toMatch(/^Groups:\s*$/m);
    const res = await fetch(`${line.endpoint}/v2/models/detect/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
    });
    expect(res.status).toBe(200);
    // Its working folder is its own.
    const work = statSync(join(scripts, 'work', 'detect'));
    expect({ uid: work.uid, mode: work.mode & 0o777 }).toEqual({ uid, mode: 0o700 });
  }, 60_000);

  it("a workload cannot read the agent's key file or list its data folder, and sees none of the agent's environment", async () => {
    const keyFile = keyFileOf(agent.dataDir);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const release = {
      version: '1.0.0',
      model: { artifact, format: 'other' },
      runtime: { kind: 'process', command: process.execPath, args: [join(scripts, 'probe.mjs')] },
      env: { AGENT_KEY: keyFile, AGENT_DATA: agent.dataDir },
    };
    await fleet.admin.apply([manifest('probe', release, key)]);
    const line = await eventually(
      async () => (await fleet.admin.getDeployment('probe')).status.nodes.find((l) => l.state === 'running'),
      30_000,
      'the probe workload serving',
    );
    const seen = (await (await fetch(`${line.endpoint}/report`)).json()) as Record<string, unknown>;
    expect(seen).toMatchObject({ uid: uidOf(userName), readKey: 'EACCES', listData: 'EACCES', noNewPrivs: true, model: 'ok' });
    expect(seen.groups).toEqual([seen.gid]);
    // PATH, the release's own variables and the agent's EDGEFLEET_ ones: nothing else of the agent's.
    expect(seen.envKeys).toEqual(
      [
        'AGENT_DATA',
        'AGENT_KEY',
        'EDGEFLEET_DEPLOYMENT',
        'EDGEFLEET_HOST',
        'EDGEFLEET_MODEL_NAME',
        'EDGEFLEET_MODEL_PATH',
        'EDGEFLEET_MODEL_VERSION',
        'EDGEFLEET_PORT',
        'EDGEFLEET_REVISION',
        'PATH',
      ].sort(),
    );
  }, 60_000);

  it("the node's facts name the workload user", async () => {
    const node = await eventually(async () => {
      const n = await fleet.admin.getNode(agent.agent.state.nodeId as string);
      return (n.facts as { security?: unknown }).security !== undefined && n;
    });
    expect((node.facts as { security: unknown }).security).toMatchObject({ workloadUser: userName, workloadsIsolated: true });
  });
});

describe.skipIf(IS_ROOT)('workloads of an agent that is not root', () => {
  it('run as the agent itself, and the facts say why', async () => {
    const fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    try {
      const agent = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken(), workloads: FAST, workloadUser: 'edgefleet-workload' });
      const node = await eventually(async () => {
        const id = agent.agent.state.nodeId;
        return id !== undefined && (await fleet.admin.getNode(id));
      }, 20_000);
      expect((node.facts as { security: unknown }).security).toMatchObject({
        workloadsIsolated: false,
        workloadsNote: expect.stringContaining('does not run as root'),
      });
    } finally {
      await fleet.close();
    }
  }, 60_000);
});
