import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { createReadStream, existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type DeploymentManifestInput, ReleaseSchema } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/**
 * Issue 14, finding 8: what a release can make a node run. The attacks are real: a real
 * server, a real agent, the built-in model server as a child process.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL = join(ROOT, 'examples/models/mlp-4-8-3.onnx');
const FAST = { crashLoopThreshold: 3, primaryRetryDelayMs: () => 2_000, desiredWaitSeconds: 5, reconcileIntervalMs: 200 };

/** A Deployment of `release`, signed with `key` (the server requires signed releases). */
function manifest(name: string, release: Record<string, unknown>, key: KeyObject): DeploymentManifestInput {
  const parsed = ReleaseSchema.parse(release);
  const signed = { ...parsed, signature: signRelease(parsed, key) };
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name }, spec: { selector: 'cpu.arch=arm64', release: signed } };
}

/** A release key the fleet trusts; returns its private half. */
async function trustedKey(fleet: TestFleet): Promise<KeyObject> {
  const pair = generateKeyPairSync('ed25519');
  await fleet.admin.trustKey(pair.publicKey.export({ format: 'pem', type: 'spki' }).toString());
  return pair.privateKey;
}

describe('a release environment that injects code into the built-in model server', () => {
  let fleet: TestFleet;
  let artifact: string;
  let evilDir: string;
  let key: KeyObject;

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
