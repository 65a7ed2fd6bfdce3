import { type FSWatcher, watch } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Accelerator, type AcceleratorKind, sleep } from '@edgefleet/protocol';
import { type Logger, pino } from 'pino';
import { readAccelerators } from '../../probe/accelerators.js';
import { knownDevices } from '../../probe/known-devices.js';
import { WakeableSleep } from '../../wakeable-sleep.js';
import { DEFAULT_DEVICE_PLUGIN_DIR, KUBELET_SOCKET } from './api.js';
import { type DeviceHealth, type PluginDevice, pluginDeviceOf } from './devices.js';
import { ResourcePlugin } from './plugin.js';

/** Options of {@link AcceleratorDevicePlugin}. */
export interface AcceleratorDevicePluginOptions {
  /** Root for hardware reads (`/` on a node, a fixture folder in tests). */
  hwRoot: string;
  /** The kubelet's device plugin folder (default /var/lib/kubelet/device-plugins). */
  dir?: string;
  /** How often device nodes and the kubelet's socket are checked (default 5 s); a change in the folder also wakes the check. */
  pollIntervalMs?: number;
  log?: Pick<Logger, 'info' | 'warn'>;
  /** The accelerators present now (default: the agent's hardware probe under hwRoot). */
  readAccelerators?: () => Promise<Accelerator[]>;
}

/** The default check interval: a vanished HAT is reported Unhealthy within it. */
export const DEFAULT_DEVICE_PLUGIN_POLL_MS = 5_000;

/**
 * The kubelet device plugin for a node's AI accelerators (`edgefleet agent --device-plugin`,
 * `edgefleet device-plugin`): one {@link ResourcePlugin} per accelerator kind the probe
 * finds, each registered with the kubelet. Every check it
 * - probes the accelerators; a device once seen stays listed (the kubelet keeps pods bound
 *   to its ID), Healthy while its device node exists under the hardware root, else Unhealthy;
 * - watches the kubelet: a new kubelet.sock (a kubelet restart removes and recreates it and
 *   deletes the plugins' sockets) or a plugin socket that vanished means serving on a new
 *   socket and registering again.
 * The checks run every `pollIntervalMs`, and at once when the folder changes (fs.watch).
 */
export class AcceleratorDevicePlugin {
  private readonly dir: string;
  private readonly pollMs: number;
  private readonly log: Pick<Logger, 'info' | 'warn'>;
  private readonly readDevices: () => Promise<Accelerator[]>;
  private readonly plugins = new Map<AcceleratorKind, ResourcePlugin>();
  /** Every device seen since start, by ID. */
  private readonly known = new Map<string, PluginDevice>();
  /** The kubelet.sock the plugins registered with (its file identity), and which did. */
  private kubelet: string | undefined;
  private readonly registered = new Set<AcceleratorKind>();
  /** The last registration error per kind, so a kubelet that keeps refusing is logged once, not at every check. */
  private readonly failures = new Map<AcceleratorKind, string>();

  constructor(private readonly opts: AcceleratorDevicePluginOptions) {
    this.dir = opts.dir ?? DEFAULT_DEVICE_PLUGIN_DIR;
    this.pollMs = opts.pollIntervalMs ?? DEFAULT_DEVICE_PLUGIN_POLL_MS;
    this.log = opts.log ?? pino({ base: { component: 'device-plugin' } });
    const memo = knownDevices();
    this.readDevices = opts.readAccelerators ?? (() => readAccelerators(opts.hwRoot, memo));
  }

  /** The resources registered with the current kubelet (tests, status). */
  get registeredResources(): string[] {
    return [...this.registered].map((k) => this.plugins.get(k)?.resourceName ?? k).sort();
  }

  /** Checks and serves until `signal` aborts; then the sockets are closed. */
  async run(signal: AbortSignal): Promise<void> {
    const wait = new WakeableSleep(sleep);
    let watcher: FSWatcher | undefined;
    try {
      try {
        watcher = watch(this.dir, () => wait.wake());
        watcher.on('error', () => {});
      } catch (err) {
        this.log.warn(`cannot watch ${this.dir} (${(err as Error).message}); checking every ${this.pollMs} ms`);
      }
      while (!signal.aborted) {
        try {
          await this.check();
        } catch (err) {
          this.log.warn(`device plugin check failed: ${(err as Error).message}`);
        }
        await wait.wait(this.pollMs, signal);
      }
    } finally {
      watcher?.close();
      await Promise.all([...this.plugins.values()].map((p) => p.close()));
    }
  }

  /** One check: devices and health, then serving and registration. */
  async check(): Promise<void> {
    const listed = new Set<string>();
    for (const a of await this.readDevices()) {
      const device = pluginDeviceOf(a);
      if (device === undefined) continue;
      listed.add(device.id);
      if (!this.known.has(device.id)) this.log.info({ device: device.id, kind: device.kind }, `found ${device.kind} device ${device.id}`);
      this.known.set(device.id, device);
    }
    const byKind = new Map<AcceleratorKind, DeviceHealth[]>();
    for (const device of this.known.values()) {
      const healthy = device.presencePath === null ? listed.has(device.id) : await exists(join(this.opts.hwRoot, device.presencePath));
      byKind.set(device.kind, [...(byKind.get(device.kind) ?? []), { device, healthy }]);
    }
    for (const [kind, devices] of byKind) {
      let plugin = this.plugins.get(kind);
      if (plugin === undefined) {
        plugin = new ResourcePlugin(kind, this.dir);
        this.plugins.set(kind, plugin);
      }
      plugin.update(devices);
    }
    await this.followKubelet();
  }

  private async followKubelet(): Promise<void> {
    const kubelet = await fileIdentity(join(this.dir, KUBELET_SOCKET));
    if (kubelet !== this.kubelet) {
      // No kubelet, or a new one: nothing is registered with it yet.
      if (this.kubelet !== undefined) this.log.info(kubelet === undefined ? 'kubelet.sock is gone' : 'kubelet.sock was recreated: registering again');
      this.kubelet = kubelet;
      this.registered.clear();
    }
    if (kubelet === undefined) return;
    for (const [kind, plugin] of this.plugins) {
      if (this.registered.has(kind) && (await exists(plugin.socketPath))) continue;
      this.registered.delete(kind);
      try {
        await plugin.serve();
        await plugin.register();
        this.registered.add(kind);
        this.failures.delete(kind);
        this.log.info({ resource: plugin.resourceName, socket: plugin.socketPath }, `registered ${plugin.resourceName} with the kubelet`);
      } catch (err) {
        const message = (err as Error).message;
        if (this.failures.get(kind) !== message)
          this.log.warn({ resource: plugin.resourceName }, `registering ${plugin.resourceName} failed, trying again: ${message}`);
        this.failures.set(kind, message);
      }
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** A file's identity: inode and times, so a file removed and made again differs even when its inode is reused. */
async function fileIdentity(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    return `${s.dev}:${s.ino}:${s.birthtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}
