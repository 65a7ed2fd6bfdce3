import { execFileSync } from 'node:child_process';
import { createHash, type KeyObject } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { type DeploymentManifestInput, ReleaseSchema } from '@edgefleet/protocol';
import { signRelease } from '@edgefleet/protocol/node';
import type { TestRegistry } from './oci/index.js';
import type { TestPodman } from './oip-container-image.js';

/**
 * Pieces the fleet-level container tests (test/integration/containers-*.test.ts) share:
 * signed Deployments of container releases, inference against the test-support/oci image
 * (y = x + c), the registry entry on the server, and podman's view of an agent's containers.
 */

/** The release key and the fleet it signs for. */
export interface ReleaseKey {
  fleet: string;
  privateKey: KeyObject;
}

/**
 * A Deployment of `release` for nodes matching `selector`, signed with `key`; `spec` adds
 * fields of the Deployment's spec (`rollout`, `endpoint`).
 */
export function signedDeployment(
  name: string,
  selector: string,
  release: Record<string, unknown>,
  key: ReleaseKey,
  spec: { rollout?: Record<string, unknown>; endpoint?: { port: number } } = {},
): DeploymentManifestInput {
  const parsed = ReleaseSchema.parse(release);
  const signed = { ...parsed, signature: signRelease(parsed, key.privateKey, { fleet: key.fleet, deployment: name }) };
  return { apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name }, spec: { selector, release: signed, ...(spec as Record<string, never>) } };
}

/** What an inference request got: the numbers, or why there were none. */
export type InferAnswer = { ok: true; y: number[] } | { ok: false; error: string };

/**
 * `POST /v2/models/<model>/infer` with `x` (FP32); the test image answers y = x + c. Never
 * throws: a closed port or an error status is an answer too (the caller decides).
 */
export async function infer(endpoint: string, model: string, x: number[], timeoutMs = 15_000): Promise<InferAnswer> {
  try {
    const res = await fetch(`${endpoint}/v2/models/${model}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'x', datatype: 'FP32', shape: [x.length], data: x }] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    if (res.status !== 200) return { ok: false, error: `HTTP ${res.status}: ${text.slice(0, 200)}` };
    const y = (JSON.parse(text) as { outputs: { data: number[] }[] }).outputs[0]?.data;
    return Array.isArray(y) ? { ok: true, y } : { ok: false, error: `no outputs in ${text.slice(0, 200)}` };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

/** x + c for each x: what the image built with `c` answers. */
export const plus = (x: number[], c: number): number[] => x.map((v) => v + c);

/** The `io.edgefleet.agent` label of the containers of the agent with data dir `dataDir` (a hash of its path). */
export function agentKeyOf(dataDir: string): string {
  return createHash('sha256').update(resolve(dataDir)).digest('hex').slice(0, 16);
}

/**
 * Podman's containers of the agent whose data dir is `dataDir` (the agent labels them with a
 * hash of its data dir, so agents sharing one podman store keep apart).
 */
export async function containersOf(
  podman: TestPodman,
  dataDir: string,
  deployment?: string,
): Promise<{ Id: string; Names: string[]; Labels: Record<string, string>; State: string }[]> {
  const filters = [
    '--filter',
    `label=io.edgefleet.agent=${agentKeyOf(dataDir)}`,
    ...(deployment === undefined ? [] : ['--filter', `label=io.edgefleet.deployment=${deployment}`]),
  ];
  return JSON.parse((await podman.run(['ps', '--all', ...filters, '--format', 'json'])) || '[]');
}

/**
 * A Raspberry Pi 5 with a Hailo-8L under `hwRoot`, whose `/dev/hailo0` is a harmless
 * character device (/dev/null's numbers, 1:3) instead of the fixture's plain file, so podman
 * can pass it through. Needs root (mknod).
 */
export async function hailoFixture(hwRoot: string, serial: string): Promise<void> {
  await writeHardwareFixture(hwRoot, 'pi5-hailo8l', { serial });
  mkdirSync(join(hwRoot, 'dev'), { recursive: true });
  rmSync(join(hwRoot, 'dev/hailo0'), { force: true });
  execFileSync('mknod', ['-m', '0666', join(hwRoot, 'dev/hailo0'), 'c', '1', '3']);
}

/** The registry as `edgefleet registry add` stores it: address, CA and pull credentials. */
export function registryEntry(registry: TestRegistry, name: string, server = registry.url) {
  return { name, server, caPem: registry.caPem, username: registry.username, password: registry.password };
}
