import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalArtifactStore } from '../../src/artifacts/index.js';
import { WorkloadSupervisor } from '../../src/workloads/supervisor.js';

/**
 * An agent killed with -9 between spawning a workload and writing its pid down leaves a
 * workload nobody knows by pid, holding its port and the accelerator. The next agent on the
 * same data folder must find and kill it — and nothing of another agent on the same host.
 */
describe('an agent starting after a kill -9', () => {
  let root: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'edgefleet-leftovers-'));
  });
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });

  /** A long-running process with the environment the agent gives a workload whose model is `modelPath`. */
  async function workloadProcess(modelPath: string): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-e', 'process.stdout.write("up\\n"); setInterval(() => {}, 1000)'], {
      env: { PATH: process.env.PATH, EDGEFLEET_DEPLOYMENT: 'detect', EDGEFLEET_REVISION: '5', EDGEFLEET_MODEL_PATH: modelPath, EDGEFLEET_PORT: '18080' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    children.push(child);
    // Running the program (not just forked): its environment is the workload's from here on.
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once('data', () => resolve());
      child.once('exit', () => reject(new Error('the stand-in workload exited at start')));
    });
    return child;
  }

  function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
    return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  }

  function startSupervisor(dataDir: string): WorkloadSupervisor {
    return new WorkloadSupervisor({
      dataDir,
      artifacts: new LocalArtifactStore(join(dataDir, 'artifacts')),
      source: () => ({ open: async () => Promise.reject(new Error('no server in this test')) }),
      clock: () => Date.now(),
      log: pino({ level: 'silent' }),
      onChange: () => {},
    });
  }

  it('kills a workload its predecessor spawned but never wrote down, and spares another agent’s', async () => {
    const dataDir = join(root, 'agent1');
    // The predecessor's state, written before it spawned revision 5: no pid in it.
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'workloads.json'), JSON.stringify({ version: 1, known: {}, previous: {}, rejected: {}, pids: [] }));
    const orphan = await workloadProcess(join(dataDir, 'artifacts', 'sha256', 'a'.repeat(64)));
    // Another agent on this host, whose data folder starts with the same text.
    const neighbour = await workloadProcess(join(root, 'agent10', 'artifacts', 'sha256', 'a'.repeat(64)));

    startSupervisor(dataDir);

    expect(await exited(orphan)).toBe('SIGKILL');
    // The neighbour still runs: signal 0 reaches it.
    expect(() => process.kill(neighbour.pid as number, 0)).not.toThrow();
    expect(neighbour.exitCode).toBeNull();
  });

  it('kills an orphan also when the predecessor had not written any state yet', async () => {
    const dataDir = join(root, 'fresh');
    const orphan = await workloadProcess(join(dataDir, 'artifacts', 'sha256', 'b'.repeat(64)));
    startSupervisor(dataDir);
    expect(await exited(orphan)).toBe('SIGKILL');
  });
});
