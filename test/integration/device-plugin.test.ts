import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { AcceleratorDevicePlugin, PLUGIN_OPTIONS } from '@edgefleet/agent/k8s';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeletHarness } from '../../test-support/kubelet-harness.js';

/**
 * Issue 17, done-when: the device plugin registers with a kubelet (the harness speaks the
 * same v1beta1 proto), advertises the accelerator of a fixture node, goes Unhealthy when the
 * device node disappears and Healthy when it returns, answers Allocate with the device node,
 * and registers again after the kubelet restarts.
 */
describe('accelerator device plugin against a kubelet harness', () => {
  let dir: string;
  let hwRoot: string;
  let kubeletDir: string;
  let kubelet: KubeletHarness;
  let abort: AbortController;
  let running: Promise<void> | undefined;
  const silent = { info: () => {}, warn: () => {} };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ef-dp-'));
    hwRoot = join(dir, 'hw');
    kubeletDir = join(dir, 'dp');
    kubelet = new KubeletHarness(kubeletDir);
    abort = new AbortController();
  });

  afterEach(async () => {
    abort.abort();
    await running;
    await kubelet.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function startPlugin(): AcceleratorDevicePlugin {
    const plugin = new AcceleratorDevicePlugin({ hwRoot, dir: kubeletDir, pollIntervalMs: 50, log: silent });
    running = plugin.run(abort.signal);
    return plugin;
  }

  it('registers, streams health from the device node, allocates it and re-registers after a kubelet restart', async () => {
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l');
    await kubelet.start();
    startPlugin();

    const reg = await kubelet.until('a registration', () => kubelet.registrations[0]);
    expect(reg).toEqual({ version: 'v1beta1', endpoint: 'edgefleet-hailo8l.sock', resource_name: 'edgefleet.dev/hailo8l', options: PLUGIN_OPTIONS });
    const resource = 'edgefleet.dev/hailo8l';
    expect(await kubelet.untilDevices(resource, (d) => d.length > 0)).toEqual([{ ID: 'hailo0', health: 'Healthy', topology: null }]);
    expect(kubelet.options(resource)).toEqual(PLUGIN_OPTIONS);

    const allocated = await kubelet.allocate(resource, ['hailo0']);
    expect(allocated.container_responses).toHaveLength(1);
    expect(allocated.container_responses[0]?.devices).toEqual([{ container_path: '/dev/hailo0', host_path: '/dev/hailo0', permissions: 'rw' }]);
    expect(allocated.container_responses[0]?.envs).toEqual({ EDGEFLEET_ACCELERATOR: 'hailo8l', EDGEFLEET_ACCELERATOR_DEVICES: '/dev/hailo0' });
    const preferred = await kubelet.preferredAllocation(resource, ['hailo0'], [], 1);
    expect(preferred.container_responses[0]?.deviceIDs).toEqual(['hailo0']);

    // The HAT's device node goes (driver unloaded, card dead): Unhealthy, still listed.
    await rm(join(hwRoot, 'dev/hailo0'));
    await kubelet.untilDevices(resource, (d) => d[0]?.health === 'Unhealthy');
    await expect(kubelet.allocate(resource, ['hailo0'])).rejects.toThrow(/unhealthy/);
    writeFileSync(join(hwRoot, 'dev/hailo0'), '');
    await kubelet.untilDevices(resource, (d) => d[0]?.health === 'Healthy');

    // A device the plugin never advertised is refused, naming what it has.
    await expect(kubelet.allocate(resource, ['hailo7'])).rejects.toThrow(/no device "hailo7".*hailo0/);

    // The kubelet restarts: kubelet.sock and the plugin sockets are removed, a new kubelet.sock comes.
    await kubelet.restart();
    await kubelet.until('a second registration', () => kubelet.registrations.length >= 2);
    expect(kubelet.registrations[1]).toEqual(reg);
    expect(await kubelet.untilDevices(resource, (d) => d[0]?.health === 'Healthy')).toEqual([{ ID: 'hailo0', health: 'Healthy', topology: null }]);
    const again = await kubelet.allocate(resource, ['hailo0']);
    expect(again.container_responses[0]?.devices[0]?.host_path).toBe('/dev/hailo0');
  });

  it('waits for a kubelet that starts after it, and advertises a Coral PCIe module as its own resource', async () => {
    await writeHardwareFixture(hwRoot, 'pi5-coral-pcie');
    const plugin = startPlugin();
    // No kubelet yet: nothing registered, and the plugin keeps checking.
    await new Promise((r) => setTimeout(r, 200));
    expect(plugin.registeredResources).toEqual([]);
    await kubelet.start();
    const reg = await kubelet.until('a registration', () => kubelet.registrations[0]);
    expect(reg.resource_name).toBe('edgefleet.dev/coral-pcie');
    expect(await kubelet.untilDevices('edgefleet.dev/coral-pcie', (d) => d.length > 0)).toEqual([{ ID: 'apex_0', health: 'Healthy', topology: null }]);
    const allocated = await kubelet.allocate('edgefleet.dev/coral-pcie', ['apex_0']);
    expect(allocated.container_responses[0]?.devices).toEqual([{ container_path: '/dev/apex_0', host_path: '/dev/apex_0', permissions: 'rw' }]);
  });

  it('registers again when only kubelet.sock is new (its own socket left in place)', async () => {
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l');
    await kubelet.start();
    startPlugin();
    await kubelet.until('a registration', () => kubelet.registrations[0]);
    await kubelet.restart({ wipePluginSockets: false });
    await kubelet.until('a second registration', () => kubelet.registrations.length >= 2);
    expect(await kubelet.untilDevices('edgefleet.dev/hailo8l', (d) => d.length > 0)).toEqual([{ ID: 'hailo0', health: 'Healthy', topology: null }]);
  });

  it('keeps trying a kubelet that refuses it, saying so once', async () => {
    await writeHardwareFixture(hwRoot, 'pi5-hailo8l');
    kubelet.refusal = 'resource edgefleet.dev/hailo8l is taken by another plugin';
    await kubelet.start();
    const warnings: string[] = [];
    const plugin = new AcceleratorDevicePlugin({
      hwRoot,
      dir: kubeletDir,
      pollIntervalMs: 50,
      log: { info: () => {}, warn: (...args: unknown[]) => void warnings.push(String(args.at(-1))) },
    });
    running = plugin.run(abort.signal);
    await new Promise((r) => setTimeout(r, 400));
    expect(plugin.registeredResources).toEqual([]);
    expect(warnings).toEqual([expect.stringMatching(/registering edgefleet.dev\/hailo8l failed, trying again: .*taken by another plugin/)]);
    kubelet.refusal = undefined;
    await kubelet.until('a registration once accepted', () => kubelet.registrations[0]);
    // The harness records the call before the plugin has read the answer.
    for (let i = 0; i < 100 && plugin.registeredResources.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(plugin.registeredResources).toEqual(['edgefleet.dev/hailo8l']);
  });

  it('registers nothing on a node without an accelerator', async () => {
    await writeHardwareFixture(hwRoot, 'pi5-nohat');
    await kubelet.start();
    const plugin = startPlugin();
    await new Promise((r) => setTimeout(r, 300));
    expect(kubelet.registrations).toEqual([]);
    expect(plugin.registeredResources).toEqual([]);
  });

  it('runs as `edgefleet device-plugin` and ends on SIGTERM', async () => {
    await writeHardwareFixture(hwRoot, 'pi5-hailo10h');
    await kubelet.start();
    // The bin runs the compiled dist (npx tsc -b first), as the other CLI tests do.
    const bin = resolve(fileURLToPath(import.meta.url), '../../../packages/cli/bin/edgefleet.js');
    const child = spawn(process.execPath, [bin, 'device-plugin', '--hw-root', hwRoot, '--dir', kubeletDir, '--poll-interval', '50'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const collect = (c: Buffer): void => {
      output += c.toString();
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const reg = await kubelet.until('a registration from the command', () => kubelet.registrations[0], 15_000);
      expect(reg.resource_name).toBe('edgefleet.dev/hailo10h');
      expect(await kubelet.untilDevices('edgefleet.dev/hailo10h', (d) => d.length > 0)).toEqual([{ ID: 'h1x-0', health: 'Healthy', topology: null }]);
    } finally {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
    }
    expect(await exited, output).toBe(0);
    expect(output).toContain('registered edgefleet.dev/hailo10h with the kubelet');
  });
});
