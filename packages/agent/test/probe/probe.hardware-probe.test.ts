import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHardwareFixture } from '../../src/fixtures/index.js';
import { HardwareProbe } from '../../src/probe/index.js';

/**
 * The agent probes at every heartbeat with one `HardwareProbe`, which reads the boot-time
 * facts once. What a node can gain or lose while it runs must still show at the next probe.
 */
let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgefleet-hw-probe-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const fresh = async (preset: Parameters<typeof writeHardwareFixture>[1]): Promise<{ dir: string; probe: HardwareProbe }> => {
  const dir = path.join(root, String(++n));
  await writeHardwareFixture(dir, preset, { serial: '0123456789abcdef' });
  return { dir, probe: new HardwareProbe(dir, { agentVersion: 'test' }) };
};
const gone = (dir: string, ...rel: string[]) => Promise.all(rel.map((r) => rm(path.join(dir, r), { recursive: true, force: true })));
/** Where a Hailo on the HAT connector shows up (as the simulator removes it). */
const HAILO_PATHS = ['sys/bus/pci/devices/0001:01:00.0', 'sys/class/hailo_chardev/hailo0', 'dev/hailo0'];

describe('HardwareProbe', () => {
  it('notices an accelerator that fails, and the same one coming back', async () => {
    const { dir, probe } = await fresh('pi5-hailo8l');
    const before = await probe.read();
    expect(before.accelerators.map((a) => a.kind)).toEqual(['hailo8l']);
    await gone(dir, ...HAILO_PATHS);
    expect((await probe.read()).accelerators).toEqual([]);
    await writeHardwareFixture(dir, 'pi5-hailo8l', { serial: '0123456789abcdef' });
    expect((await probe.read()).accelerators).toEqual(before.accelerators);
  });

  it('reads again a device that comes back at the same address as another kind', async () => {
    const { dir, probe } = await fresh('pi5-hailo8l');
    await probe.read();
    await gone(dir, ...HAILO_PATHS);
    await probe.read();
    // A Coral module now answers at 0001:01:00.0: its ids are read, not remembered.
    await writeHardwareFixture(dir, 'pi5-coral-pcie', { serial: '0123456789abcdef' });
    expect((await probe.read()).accelerators.map((a) => [a.kind, a.busLocation])).toEqual([['coral-pcie', '0001:01:00.0']]);
  });

  it('notices a USB accelerator plugged in, and another device taking its port', async () => {
    const { dir, probe } = await fresh('pi5-nohat');
    expect((await probe.read()).accelerators).toEqual([]);
    await writeHardwareFixture(dir, 'pi4-coral-usb', { serial: '0123456789abcdef' });
    expect((await probe.read()).accelerators.map((a) => a.kind)).toEqual(['coral-usb']);
    // Unplugged and a keyboard plugged into the same port between two probes.
    await writeFile(path.join(dir, 'sys/bus/usb/devices/2-1/idVendor'), '046d\n');
    await writeFile(path.join(dir, 'sys/bus/usb/devices/2-1/idProduct'), 'c31c\n');
    expect((await probe.read()).accelerators).toEqual([]);
  });

  it('reads temperature and throttling at every probe', async () => {
    const { dir, probe } = await fresh('pi5-nohat');
    await probe.read();
    await writeFile(path.join(dir, 'sys/class/thermal/thermal_zone0/temp'), '81234\n');
    await writeFile(path.join(dir, 'run/edgefleet/throttled'), 'throttled=0x20002\n');
    expect((await probe.read()).thermal).toEqual({ temperatureC: 81.2, throttledBits: 0x20002 });
  });

  it('keeps the boot-time facts it read: a later probe does not lose them to a failed read', async () => {
    const { dir, probe } = await fresh('pi5-hailo8l');
    const first = await probe.read();
    // Out of file descriptors, say: nothing under proc/ can be opened now.
    await gone(dir, 'proc');
    const later = await probe.read();
    expect({ board: later.board, cpu: later.cpu, memoryBytes: later.memoryBytes, firmware: later.firmware }).toEqual({
      board: first.board,
      cpu: first.cpu,
      memoryBytes: first.memoryBytes,
      firmware: first.firmware,
    });
  });

  it('reads boot-time facts again while one of them is unknown', async () => {
    const { dir, probe } = await fresh('pi5-nohat');
    await gone(dir, 'proc/device-tree/chosen/bootloader/build-timestamp');
    expect((await probe.read()).firmware.version).toBeNull();
    await writeHardwareFixture(dir, 'pi5-nohat', { serial: '0123456789abcdef', bootloaderTimestamp: 1736942400 });
    expect((await probe.read()).firmware.version).toBe('20250115');
  });
});
