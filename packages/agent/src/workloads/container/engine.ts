import { execFile } from 'node:child_process';
import { rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { PreparedImage } from '../../images/types.js';
import { LABEL_AGENT } from './run-args.js';

/** How the agent reaches podman. */
export interface PodmanOptions {
  /** The podman program (default `podman` on PATH). */
  command?: string;
  /**
   * The OCI runtime (`--runtime`): default `crun` when it is installed and works, else
   * `runc` (crun refuses hybrid cgroup layouts; runc does not).
   */
  ociRuntime?: string;
  /** Global flags before the subcommand: `--root`, `--runroot`, `--storage-driver`, … (tests use a throwaway store). */
  globalArgs?: string[];
  /** Environment of every podman call beside PATH (e.g. CONTAINERS_CONF in tests). */
  env?: Record<string, string>;
  /** The network containers join (default `bridge`). */
  network?: string;
}

/** What the agent found at start, for its facts (`HardwareFacts.containerEngine`). */
export interface EngineFacts {
  name: 'podman';
  version: string;
  ociRuntime: string | null;
}

/**
 * podman, driven through its CLI. The CLI (not the REST socket) because it needs no service
 * running beside the agent (on a Pi that is one less daemon to keep alive), each call is a
 * short child process whose failure is the call's alone, and an attached `podman run` gives
 * the container's exit and its stdout/stderr as a child process's: the process runtime's
 * lifecycle code is reused as is.
 */
export class Podman {
  readonly command: string;
  private runtime: string | undefined;

  constructor(readonly opts: PodmanOptions = {}) {
    this.command = opts.command ?? 'podman';
    this.runtime = opts.ociRuntime;
  }

  /** The flags every call starts with (store location, OCI runtime). */
  get globalArgs(): string[] {
    return [...(this.opts.globalArgs ?? []), ...(this.runtime === undefined ? [] : ['--runtime', this.runtime])];
  }

  /** The environment of every call: PATH and the configured variables, nothing else of the agent's. */
  get env(): Record<string, string> {
    return { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...(this.opts.env ?? {}) };
  }

  get network(): string {
    return this.opts.network ?? 'bridge';
  }

  /** Runs `podman GLOBAL args`; resolves stdout, rejects with podman's stderr. */
  exec(args: readonly string[], timeoutMs = 120_000): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.command, [...this.globalArgs, ...args], { env: this.env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err !== null) {
          const detail = stderr.trim().split('\n').slice(-3).join(' ') || err.message;
          reject(new Error(`podman ${args[0] ?? ''} failed: ${detail}`));
        } else resolve(stdout);
      });
    });
  }

  /**
   * Checks the engine is there and can run a container's runtime; picks the OCI runtime
   * (the configured one, else crun when it works, else runc). Undefined: no usable engine.
   */
  async detect(): Promise<{ facts: EngineFacts } | { problem: string }> {
    let version: string;
    try {
      const out = JSON.parse(await this.exec(['version', '--format', 'json'], 15_000)) as { Client?: { Version?: string }; Server?: { Version?: string } };
      version = out.Client?.Version ?? out.Server?.Version ?? 'unknown';
    } catch (err) {
      return { problem: `no container engine: ${(err as Error).message}` };
    }
    if (this.runtime === undefined) this.runtime = (await this.runtimeWorks('crun')) ? 'crun' : (await this.runtimeWorks('runc')) ? 'runc' : undefined;
    if (this.runtime === undefined) return { problem: `podman ${version} found, but neither crun nor runc works here` };
    try {
      const info = JSON.parse(await this.exec(['info', '--format', 'json'], 30_000)) as { host?: { ociRuntime?: { name?: string } } };
      return { facts: { name: 'podman', version, ociRuntime: info.host?.ociRuntime?.name ?? this.runtime } };
    } catch (err) {
      return { problem: `podman ${version} with ${this.runtime} does not work: ${(err as Error).message}` };
    }
  }

  /** Whether an OCI runtime is installed and runs here (`crun` refuses hybrid cgroups: its `features` or `--version` fails). */
  private async runtimeWorks(name: string): Promise<boolean> {
    return new Promise((resolve) => {
      execFile(name, ['--version'], { env: this.env, timeout: 10_000 }, (err) => {
        if (err !== null) return resolve(false);
        if (name !== 'crun') return resolve(true);
        // crun installs fine on a hybrid-cgroup host and fails at the first container: check the layout.
        execFile('stat', ['-fc', '%T', '/sys/fs/cgroup'], { timeout: 5_000 }, (e, out) => resolve(e === null && out.trim() === 'cgroup2fs'));
      });
    });
  }

  /**
   * Imports a verified image from its OCI layout into podman's store (no network), unless
   * it is there already. Returns the image id, which must be the config digest the store verified.
   */
  async load(image: PreparedImage): Promise<string> {
    const id = image.configDigest.replace(/^sha256:/, '');
    if (await this.imageExists(id)) return id;
    // podman names an image pulled from `oci:PATH` after PATH, which must then be a valid
    // repository name (lowercase): import through a link whose path is one.
    const link = join('/tmp', `edgefleet-oci-${id.slice(0, 16)}-${process.pid}`);
    rmSync(link, { force: true });
    symlinkSync(image.layoutDir, link);
    let out: string;
    try {
      out = (await this.exec(['pull', '--quiet', `oci:${link}`], 600_000)).trim().split('\n').at(-1) ?? '';
    } finally {
      rmSync(link, { force: true });
    }
    if (out.replace(/^sha256:/, '') !== id) {
      await this.exec(['rmi', '--force', '--ignore', out]).catch(() => undefined);
      throw new Error(`podman imported image ${out || '(none)'} from ${image.layoutDir}, expected ${image.configDigest}: refusing to run it`);
    }
    // A stable name instead of the link's, so `podman images` tells what it is and a prune of unnamed images keeps it.
    await this.exec(['tag', id, `localhost/edgefleet/image:${id.slice(0, 32)}`]);
    await this.exec(['untag', id, `localhost${link}:latest`]).catch(() => undefined);
    return id;
  }

  /** Removes an image by id; podman refuses while a container uses it, and that is kept. */
  async unload(id: string): Promise<void> {
    await this.exec(['rmi', '--ignore', id], 120_000);
  }

  private async imageExists(id: string): Promise<boolean> {
    try {
      await this.exec(['image', 'exists', id], 30_000);
      return true;
    } catch {
      return false;
    }
  }

  /** Names of the containers this agent (`agentKey`) left, running or not. */
  async containersOf(agentKey: string): Promise<string[]> {
    const out = await this.exec(['ps', '--all', '--filter', `label=${LABEL_AGENT}=${agentKey}`, '--format', '{{.Names}}'], 30_000);
    return out
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '');
  }

  /** Removes containers by name at once (`rm --force --time 0`); a missing one is no error. */
  async remove(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.exec(['rm', '--force', '--ignore', '--time', '0', ...names], 60_000);
  }

  /** Stops a container with a grace period, then removes it. */
  async stop(name: string, graceSeconds: number): Promise<void> {
    try {
      await this.exec(['stop', '--ignore', '--time', String(graceSeconds), name], (graceSeconds + 30) * 1000);
    } finally {
      await this.remove([name]).catch(() => undefined);
    }
  }

  /** CPU seconds and memory of running containers, by name (cgroup figures through `podman stats`). */
  async stats(): Promise<Map<string, { cpuSeconds: number; memoryBytes: number; memoryLimitBytes: number }>> {
    const out = await this.exec(
      ['stats', '--all', '--no-stream', '--no-reset', '--format', '{{.Name}} {{.CPUNano}} {{.ContainerStats.MemUsage}} {{.MemLimit}}'],
      30_000,
    );
    return parseStats(out);
  }
}

/** Parses `NAME CPU_NANOS MEM_BYTES MEM_LIMIT` lines (the stats format above); lines that do not fit are skipped. */
export function parseStats(out: string): Map<string, { cpuSeconds: number; memoryBytes: number; memoryLimitBytes: number }> {
  const stats = new Map<string, { cpuSeconds: number; memoryBytes: number; memoryLimitBytes: number }>();
  for (const line of out.split('\n')) {
    const [name, cpu, mem, limit] = line.trim().split(/\s+/);
    if (name === undefined || name === '' || !/^\d+$/.test(cpu ?? '') || !/^\d+$/.test(mem ?? '')) continue;
    stats.set(name, { cpuSeconds: Number(cpu) / 1e9, memoryBytes: Number(mem), memoryLimitBytes: /^\d+$/.test(limit ?? '') ? Number(limit) : 0 });
  }
  return stats;
}
