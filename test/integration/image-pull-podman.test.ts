import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseImageReference } from '@edgefleet/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImageStore } from '../../packages/agent/src/images/index.js';
import { buildOipImage, freePort, pushImage, startRegistry, type TestRegistry } from '../../test-support/oci/index.js';

/**
 * The layout the image store writes is what real podman imports (`podman pull oci:DIR`),
 * and the test image then serves the Open Inference Protocol with the sandbox the
 * container runtime uses: read-only root, non-root user, no capabilities (issue 16).
 * Podman runs with a throwaway root (`--root`/`--runroot`), runc, and vfs storage.
 */
const run = promisify(execFile);
let registry: TestRegistry;
// Lowercase only: podman 4.3 names an image pulled from oci:DIR after DIR, and refuses uppercase.
const dir = join(tmpdir(), `edgefleet-podman-${randomBytes(6).toString('hex')}`);
const podmanArgs = [
  '--root',
  join(dir, 'root'),
  '--runroot',
  join(dir, 'run'),
  '--runtime',
  'runc',
  '--storage-driver',
  'vfs',
  '--cgroup-manager',
  'cgroupfs',
  '--events-backend',
  'none',
];
const podman = (...args: string[]) => run('podman', [...podmanArgs, ...args], { timeout: 60_000 });

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  registry = await startRegistry();
});

afterAll(async () => {
  await podman('rm', '--force', '--all', '--time', '1').catch(() => undefined);
  await registry?.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('podman imports the prepared layout and the image serves y = x + c, sandboxed', { timeout: 120_000 }, async () => {
  const image = buildOipImage({ c: 5 });
  await pushImage(registry, 'team/adder', image);
  const store = new ImageStore({ dataDir: join(dir, 'agent') });
  const prepared = await store.prepare({
    reference: parseImageReference(registry.reference('team/adder', image.digest)),
    access: registry.access(),
    platform: 'linux/amd64',
  });

  const { stdout: pulled } = await podman('pull', '--quiet', `oci:${prepared.layoutDir}`);
  // podman's image ID is the config digest.
  expect(pulled.trim()).toBe(prepared.configDigest.slice('sha256:'.length));

  const port = await freePort();
  await podman(
    'run',
    '--detach',
    '--name',
    'adder',
    '--read-only',
    '--user',
    '65534:65534',
    '--cap-drop=all',
    '--security-opt',
    'no-new-privileges',
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    '--memory',
    '64m',
    '--publish',
    `127.0.0.1:${port}:8080`,
    pulled.trim(),
  );
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const ready = await fetch(`${base}/v2/health/ready`).then(
      (r) => r.status,
      () => 0,
    );
    if (ready === 200) break;
    if (Date.now() > deadline) throw new Error('the container did not become ready in 20 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  const res = await fetch(`${base}/v2/models/adder/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [3], data: [1, 2.5, -4] }] }),
  });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ model_name: 'adder', model_version: '1', outputs: [{ name: 'y', datatype: 'FP32', shape: [3], data: [6, 7.5, 1] }] });
  expect((await fetch(`${base}/v2/models/other/infer`, { method: 'POST', body: '{}' })).status).toBe(404);
  const { stdout: logs } = await podman('logs', 'adder');
  expect(logs).toContain('serving model adder (y = x + 5)');
  // SIGTERM stops it at once (the entrypoint traps it).
  const started = Date.now();
  await podman('stop', '--time', '10', 'adder');
  expect(Date.now() - started).toBeLessThan(8_000);
});

it('an image built with crash: true exits 3 at start', { timeout: 120_000 }, async () => {
  const image = buildOipImage({ c: 6, crash: true });
  await pushImage(registry, 'team/crasher', image);
  const store = new ImageStore({ dataDir: join(dir, 'agent') });
  const prepared = await store.prepare({
    reference: parseImageReference(registry.reference('team/crasher', image.digest)),
    access: registry.access(),
    platform: 'linux/amd64',
  });
  const { stdout: pulled } = await podman('pull', '--quiet', `oci:${prepared.layoutDir}`);
  const exit = await podman(
    'run',
    '--rm',
    '--read-only',
    '--user',
    '65534:65534',
    '--cap-drop=all',
    '--ulimit',
    'nofile=1024:1024',
    '--ulimit',
    'nproc=1024:1024',
    pulled.trim(),
  ).then(
    () => 0,
    (err: { code?: number; stderr?: string }) => ({ code: err.code, stderr: err.stderr }),
  );
  expect(exit).toEqual({ code: 3, stderr: expect.stringContaining('built to crash') });
});
