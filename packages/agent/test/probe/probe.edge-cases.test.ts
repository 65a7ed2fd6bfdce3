import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { HardwareFacts } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HardwarePreset, writeHardwareFixture } from '../../src/fixtures/index.js';
import { labelsFromFacts, probeHardware } from '../../src/probe/index.js';

const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const GIB = 1024 ** 3;

let base: string;
let counter = 0;
beforeAll(async () => {
  base = await mkdtemp(path.join(tmpdir(), 'edgefleet-probe-edge-'));
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** Changes applied to a tree: files to (over)write and paths to delete. */
interface Change {
  set?: Record<string, string | Uint8Array>;
  remove?: string[];
}

/** Writes `preset` (or nothing) to a fresh folder, applies `change`, and probes it. */
async function probeWith(preset: HardwarePreset | null, change: Change = {}): Promise<{ facts: HardwareFacts; labels: Record<string, string> }> {
  const dir = path.join(base, String(counter++));
  await mkdir(dir, { recursive: true });
  if (preset !== null) await writeHardwareFixture(dir, preset);
  for (const rel of change.remove ?? []) await rm(path.join(dir, rel), { recursive: true, force: true });
  for (const [rel, contents] of Object.entries(change.set ?? {})) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), contents);
  }
  const facts = await probeHardware(dir, { agentVersion: '0.1.0' });
  const labels = labelsFromFacts(facts, {});
  for (const value of Object.values(labels)) expect(value).toMatch(LABEL_VALUE);
  return { facts, labels };
}

const HAILO_PCI = 'sys/bus/pci/devices/0001:01:00.0';
const NO_HAILO_SYSFS = [HAILO_PCI, 'sys/class/hailo_chardev', 'run/edgefleet/hailortcli-identify.txt'];

describe('an empty or missing hardware root', () => {
  it.each([
    ['an empty folder', null],
    ['a folder that does not exist', 'missing'],
  ] as const)('%s gives a generic node with no accelerator', async (_name, sub) => {
    const dir = sub === null ? await mkdtemp(path.join(base, 'empty-')) : path.join(base, sub);
    const facts = await probeHardware(dir, { agentVersion: '0.1.0' });
    expect(facts).toEqual({
      board: { model: null, slug: 'generic', serial: null, revisionCode: null },
      cpu: { arch: 'unknown', kernelArch: null, cores: null },
      memoryBytes: null,
      firmware: { bootloaderBuildTime: null, version: null },
      thermal: { temperatureC: null, throttledBits: null },
      accelerators: [],
      hostname: null,
      agentVersion: '0.1.0',
    });
    expect(labelsFromFacts(facts, {})).toEqual({ 'hardware.ai-hat': 'false', 'ai.accelerator': 'none', 'cpu.arch': 'unknown', 'board.model': 'generic' });
  });
});

describe('firmware', () => {
  const TS = 'proc/device-tree/chosen/bootloader/build-timestamp';
  it.each([
    ['truncated to 2 bytes', Uint8Array.of(0x65, 0x70)],
    ['5 bytes long', Uint8Array.of(0x65, 0x70, 0xbd, 0x85, 0x00)],
    ['empty', new Uint8Array()],
    ['zero', Uint8Array.of(0, 0, 0, 0)],
  ])('a build timestamp %s gives no firmware version', async (_name, bytes) => {
    const { facts, labels } = await probeWith('pi5-nohat', { set: { [TS]: bytes } });
    expect(facts.firmware).toEqual({ bootloaderBuildTime: null, version: null });
    expect(labels).not.toHaveProperty('firmware.version');
  });

  it('dates the build in UTC, not local time', async () => {
    // 2023-12-31T23:30:00Z is already 2024 east of UTC.
    const { facts } = await probeWith('pi5-nohat', { set: { [TS]: Uint8Array.of(0x65, 0x91, 0xf9, 0x78) } });
    expect(facts.firmware).toEqual({ bootloaderBuildTime: '2023-12-31T23:30:00.000Z', version: '20231231' });
  });
});

describe('board', () => {
  const cpuinfoWith = (revision: string, model = 'Raspberry Pi 5 Model B Rev 1.0'): string =>
    `processor\t: 0\nBogoMIPS\t: 108.00\n\nRevision\t: ${revision}\nSerial\t\t: 05a350ebd1b50841\nModel\t\t: ${model}\n`;

  it('falls back to the model string for an old-style revision code (bit 23 clear)', async () => {
    const { facts, labels } = await probeWith('pi5-nohat', { set: { 'proc/cpuinfo': cpuinfoWith('0013') } });
    expect(facts.board).toMatchObject({ slug: 'raspberrypi5', revisionCode: '0013' });
    // No memory field to decode: MemTotal (4122508 kB) it is.
    expect(facts.memoryBytes).toBe(4122508 * 1024);
    expect(labels['memory.gb']).toBe('4');
    expect(facts.cpu.cores).toBe(1);
  });

  it.each([
    ['a board type we do not name (CM0, 0x1b)', 'c041b0', 'Raspberry Pi 4 Model B Rev 1.1', 'raspberrypi4', 4 * GIB],
    ['a memory field of 7 ("other")', 'f04170', 'Raspberry Pi 5 Model B Rev 1.0', 'raspberrypi5', 4122508 * 1024],
    ['a 16 GB Pi 5 revision', 'e04171', 'whatever', 'raspberrypi5', 16 * GIB],
    ['a Pi 500', 'd04190', 'Raspberry Pi 500 Rev 1.0', 'raspberrypi500', 8 * GIB],
    ['a CM4', 'b03140', 'Raspberry Pi Compute Module 4 Rev 1.0', 'cm4', 2 * GIB],
    ['a 3B+', 'a020d3', 'Raspberry Pi 3 Model B Plus Rev 1.3', 'raspberrypi3', 1 * GIB],
  ])('decodes fields, not whole codes: %s', async (_name, revision, model, slug, memoryBytes) => {
    const { facts } = await probeWith('pi5-nohat', { set: { 'proc/cpuinfo': cpuinfoWith(revision, model) }, remove: ['proc/device-tree/model'] });
    expect(facts.board).toMatchObject({ slug, revisionCode: revision, model });
    expect(facts.memoryBytes).toBe(memoryBytes);
  });

  it('is generic when neither revision nor model names a board', async () => {
    const { facts } = await probeWith('pi5-nohat', { set: { 'proc/cpuinfo': cpuinfoWith('0013', 'Some Other Board') }, remove: ['proc/device-tree/model'] });
    expect(facts.board).toMatchObject({ slug: 'generic', model: 'Some Other Board' });
  });

  it('reads the serial from cpuinfo, then machine-id, when the device tree has none or zeros', async () => {
    const fromCpuinfo = await probeWith('pi5-nohat', { set: { 'proc/device-tree/serial-number': '0000000000000000\0' } });
    expect(fromCpuinfo.facts.board.serial).toBe('e6a07b39c15d2f84');
    const fromMachineId = await probeWith('pc-amd64', { remove: ['etc/machine-id'], set: { 'etc/machine-id': 'not-a-machine-id\n' } });
    expect(fromMachineId.facts.board.serial).toBeNull();
  });
});

describe('garbage in a file gives null for that fact only', () => {
  const garbage = Uint8Array.of(0xff, 0xfe, 0x00, 0x9c, 0x80, 0x0a);
  it.each([
    [
      'device-tree model (falls back to cpuinfo Model)',
      'proc/device-tree/model',
      (f: HardwareFacts) => expect(f.board.model).toBe('Raspberry Pi 5 Model B Rev 1.0'),
    ],
    ['kernel arch', 'proc/sys/kernel/arch', (f: HardwareFacts) => expect(f.cpu).toEqual({ arch: 'unknown', kernelArch: null, cores: 4 })],
    ['thermal zone', 'sys/class/thermal/thermal_zone0/temp', (f: HardwareFacts) => expect(f.thermal.temperatureC).toBeNull()],
    ['throttled cache', 'run/edgefleet/throttled', (f: HardwareFacts) => expect(f.thermal.throttledBits).toBeNull()],
    ['hostname', 'etc/hostname', (f: HardwareFacts) => expect(f.hostname).toBeNull()],
    [
      'cpuinfo (revision, cores, falls back to meminfo)',
      'proc/cpuinfo',
      (f: HardwareFacts) => expect([f.board.revisionCode, f.cpu.cores, f.memoryBytes]).toEqual([null, null, 4122508 * 1024]),
    ],
    ['meminfo (memory still from the revision code)', 'proc/meminfo', (f: HardwareFacts) => expect(f.memoryBytes).toBe(4 * GIB)],
  ])('%s', async (_name, rel, check) => {
    const { facts } = await probeWith('pi5-nohat', { set: { [rel]: garbage } });
    check(facts);
    expect(facts.board.serial).toBe('e6a07b39c15d2f84');
  });

  it.each([
    ['temperature text', 'sys/class/thermal/thermal_zone0/temp', 'hot\n'],
    ['temperature with a fraction', 'sys/class/thermal/thermal_zone0/temp', '52.3\n'],
    ['throttled without 0x', 'run/edgefleet/throttled', 'throttled=50005\n'],
    ['throttled banana', 'run/edgefleet/throttled', 'throttled=0xbanana\n'],
  ])('malformed %s is null, never guessed', async (_name, rel, text) => {
    const { facts } = await probeWith('pi5-nohat', { set: { [rel]: text } });
    expect(rel.includes('thermal') ? facts.thermal.temperatureC : facts.thermal.throttledBits).toBeNull();
  });

  it('a garbled PCI vendor file hides that device, not the probe', async () => {
    const { facts } = await probeWith('pi5-coral-pcie', { set: { 'sys/bus/pci/devices/0001:01:00.0/vendor': 'banana\n' } });
    // The apex node alone still tells a Coral is there.
    expect(facts.accelerators).toEqual([{ kind: 'coral-pcie', device: '/dev/apex_0', source: '/dev/apex_0 + sysfs apex/apex_0' }]);
  });

  it('a garbled identify cache leaves the architecture unknown', async () => {
    const { facts } = await probeWith('pi5-hailo8', { set: { 'run/edgefleet/hailortcli-identify.txt': garbage } });
    expect(facts.accelerators[0]).toMatchObject({ kind: 'hailo8l', source: expect.stringContaining('assumed hailo8l') });
  });
});

describe('throttled bits', () => {
  it('prefer the live sysfs get_throttled (bare hex) over the vcgencmd cache', async () => {
    const { facts } = await probeWith('pi5-nohat', { set: { 'sys/devices/platform/soc/soc:firmware/get_throttled': '80008\n' } });
    expect(facts.thermal.throttledBits).toBe(0x80008);
  });

  it('come from sysfs alone when there is no cache', async () => {
    const { facts } = await probeWith('pi5-nohat', {
      remove: ['run/edgefleet/throttled'],
      set: { 'sys/devices/platform/soc/soc:firmware/get_throttled': '0\n' },
    });
    expect(facts.thermal.throttledBits).toBe(0);
  });
});

describe('accelerators', () => {
  it('sees a Coral USB Accelerator before its firmware loads (1a6e:089a)', async () => {
    const { facts, labels } = await probeWith('pi4-coral-usb', {
      set: { 'sys/bus/usb/devices/2-1/idVendor': '1a6e\n', 'sys/bus/usb/devices/2-1/idProduct': '089a\n' },
    });
    expect(facts.accelerators).toEqual([
      { kind: 'coral-usb', device: 'usb:1a6e:089a', busLocation: '2-1', source: 'usb-id 1a6e:089a (before its firmware loads)' },
    ]);
    expect(labels['ai.accelerator']).toBe('coral-usb');
  });

  it('puts a PCIe HAT before a USB stick and makes it the primary accelerator', async () => {
    const { facts, labels } = await probeWith('pi5-hailo8l', {
      set: { 'sys/bus/usb/devices/3-1/idVendor': '18d1\n', 'sys/bus/usb/devices/3-1/idProduct': '9302\n' },
    });
    expect(facts.accelerators.map((a) => a.kind)).toEqual(['hailo8l', 'coral-usb']);
    expect(labels).toMatchObject({ 'hardware.ai-hat': 'true', 'ai.accelerator': 'hailo8l' });
  });

  it('counts a Hailo seen through PCI, sysfs, /dev and identify once', async () => {
    const { facts } = await probeWith('pi5-hailo8l');
    expect(facts.accelerators).toHaveLength(1);
  });

  it('reports a bare /dev/hailo0 (no sysfs) as an assumed hailo8l, and uses identify when cached', async () => {
    const bare = await probeWith('pi5-hailo8', { remove: NO_HAILO_SYSFS });
    expect(bare.facts.accelerators).toEqual([{ kind: 'hailo8l', device: '/dev/hailo0', source: '/dev/hailo0 (architecture unknown, assumed hailo8l)' }]);
    const identified = await probeWith('pi5-hailo8', { remove: [HAILO_PCI, 'sys/class/hailo_chardev'] });
    expect(identified.facts.accelerators).toEqual([
      { kind: 'hailo8', device: '/dev/hailo0', source: '/dev/hailo0 + hailortcli identify (HAILO8)', serial: 'HLLWM2B233701148', firmwareVersion: '4.23.0' },
    ]);
  });

  it('reports a bare /dev/h1x-0 as a hailo10h: only the hailo1x_pci driver makes such nodes', async () => {
    const { facts } = await probeWith('pi5-hailo10h', { remove: NO_HAILO_SYSFS });
    expect(facts.accelerators).toEqual([{ kind: 'hailo10h', device: '/dev/h1x-0', source: '/dev/h1x-0' }]);
  });

  it('reports a Hailo PCI function without a driver at its PCI address', async () => {
    const { facts } = await probeWith('pi5-hailo10h', { remove: ['dev/h1x-0'] });
    expect(facts.accelerators[0]).toMatchObject({ kind: 'hailo10h', device: 'pci:0001:01:00.0', busLocation: '0001:01:00.0' });
  });

  it('ignores a stale identify cache naming another family or another address', async () => {
    const staleOn10h = await probeWith('pi5-hailo10h', {
      set: { 'run/edgefleet/hailortcli-identify.txt': 'Executing on device: 0001:01:00.0\nDevice Architecture: HAILO8L\nSerial Number: OLD\n' },
    });
    expect(staleOn10h.facts.accelerators).toEqual([
      { kind: 'hailo10h', device: '/dev/h1x-0', busLocation: '0001:01:00.0', pciId: '1e60:45c4', source: 'pci-id 1e60:45c4 + /dev/h1x-0' },
    ]);
    const staleArch = await probeWith('cm5-hailo8l', {
      set: { 'run/edgefleet/hailortcli-identify.txt': 'Executing on device: 0001:01:00.0\nDevice Architecture: HAILO10H\nSerial Number: OLD\n' },
    });
    expect(staleArch.facts.accelerators[0]).toMatchObject({ kind: 'hailo8l', source: expect.stringContaining('assumed hailo8l') });
    // The stale block's serial belongs to the removed device.
    expect(staleArch.facts.accelerators[0]).not.toHaveProperty('serial');
    const otherAddress = await probeWith('cm5-hailo8l', {
      set: { 'run/edgefleet/hailortcli-identify.txt': 'Executing on device: 0001:02:00.0\nDevice Architecture: HAILO8\n' },
    });
    expect(otherAddress.facts.accelerators[0]).toMatchObject({ kind: 'hailo8l' });
  });

  it('uses a sysfs accelerator_type that names the chip, and ignores the numeric one', async () => {
    const named = await probeWith('cm5-hailo8l', { set: { 'sys/class/hailo_chardev/hailo0/accelerator_type': 'hailo8' } });
    expect(named.facts.accelerators[0]).toMatchObject({
      kind: 'hailo8',
      source: 'pci-id 1e60:2864 + sysfs hailo_chardev/hailo0 + sysfs accelerator_type (HAILO8)',
    });
  });

  it('tells two Hailo devices apart by PCI address', async () => {
    const second = 'sys/bus/pci/devices/0001:02:00.0';
    const { facts, labels } = await probeWith('pi5-hailo8l', {
      set: {
        [`${second}/vendor`]: '0x1e60\n',
        [`${second}/device`]: '0x2864\n',
        'sys/class/hailo_chardev/hailo1/board_location': '0001:02:00.0',
        'sys/class/hailo_chardev/hailo1/device_id': '1e60:2864',
        'dev/hailo1': '',
        'run/edgefleet/hailortcli-identify.txt':
          'Executing on device: 0001:02:00.0\nDevice Architecture: HAILO8\nSerial Number: B\n\nExecuting on device: 0001:01:00.0\nDevice Architecture: HAILO8L\nSerial Number: A\n',
      },
    });
    expect(facts.accelerators.map((a) => [a.kind, a.device, a.busLocation, a.serial])).toEqual([
      ['hailo8l', '/dev/hailo0', '0001:01:00.0', 'A'],
      ['hailo8', '/dev/hailo1', '0001:02:00.0', 'B'],
    ]);
    expect(labels['ai.accelerator']).toBe('hailo8l');
  });

  it('takes the PCI id and address from hailo_chardev when the PCI tree is unreadable', async () => {
    const { facts } = await probeWith('pi5-hailo8l', { remove: [HAILO_PCI], set: { 'sys/class/hailo_chardev/hailo0/device_id': '1e60:2864' } });
    expect(facts.accelerators[0]).toMatchObject({ pciId: '1e60:2864', busLocation: '0001:01:00.0', kind: 'hailo8l' });
  });
});

describe('cpu architecture', () => {
  it.each([
    ['aarch64', 'arm64'],
    ['x86_64', 'amd64'],
    ['armv7l', 'arm'],
    ['armv6l', 'arm'],
    ['i686', '386'],
    ['riscv64', 'riscv64'],
    ['mips', 'unknown'],
  ])('%s → %s', async (kernelArch, arch) => {
    const { facts, labels } = await probeWith(null, { set: { 'proc/sys/kernel/arch': `${kernelArch}\n` } });
    expect(facts.cpu).toEqual({ arch, kernelArch, cores: null });
    expect(labels['cpu.arch']).toBe(arch);
  });
});
