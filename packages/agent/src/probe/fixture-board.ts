import { addPciFunction, addUsbDevice, dtStrings, dtU32, type FixtureTree } from './fixture-tree.js';

/** The Raspberry Pi boards the presets use. */
export type PiBoard = 'pi5' | 'pi4' | 'cm5';

/** What varies per node on a Pi: identity and readings. */
export interface PiNode {
  board: PiBoard;
  /** New-style revision code, e.g. `d04170` (Pi 5 rev 1.0, 8 GB). */
  revision: string;
  /** PCB revision as the model string prints it (`1.0`). */
  pcbRevision: string;
  /** MemTotal as /proc/meminfo prints it: a little less than the RAM fitted. */
  memTotalKb: number;
  serial: string;
  hostname: string;
  bootloaderTimestamp: number;
  temperatureMilliC: number;
  throttled: number;
}

interface BoardShape {
  model: string;
  compatible: string;
  /** The four `processor` entries of /proc/cpuinfo. */
  cpu: string;
  /** Lines between the processor entries and `Revision` (a Pi 5 has no `Hardware` line). */
  hardwareLine: string;
  addBuses: (tree: FixtureTree) => void;
}

const CORTEX_A76 =
  'BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n';
const CORTEX_A72 =
  'BogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n';

/** Four `processor` entries, as every board here has four cores. */
export function processors(body: string): string {
  return [0, 1, 2, 3].map((n) => `processor\t: ${n}\n${body}`).join('\n');
}

/** BCM2712: two PCIe root complexes; RP1 (the I/O chip) sits on the second, a HAT on the first. */
function bcm2712Buses(tree: FixtureTree): void {
  addPciFunction(tree, '0001:00:00.0', '14e4', '2712');
  addPciFunction(tree, '0002:00:00.0', '14e4', '2712');
  addPciFunction(tree, '0002:01:00.0', '1de4', '0001');
  for (const [bus, product] of [
    ['usb1', '0002'],
    ['usb2', '0003'],
    ['usb3', '0002'],
    ['usb4', '0003'],
  ] as const)
    addUsbDevice(tree, bus, '1d6b', product);
}

/** BCM2711: one PCIe root port with the VL805 USB 3 controller behind it. */
function bcm2711Buses(tree: FixtureTree): void {
  addPciFunction(tree, '0000:00:00.0', '14e4', '2711');
  addPciFunction(tree, '0000:01:00.0', '1106', '3483');
  addUsbDevice(tree, 'usb1', '1d6b', '0002');
  addUsbDevice(tree, 'usb2', '1d6b', '0003');
  addUsbDevice(tree, '1-1', '2109', '3431');
}

const BOARDS: Readonly<Record<PiBoard, BoardShape>> = {
  pi5: { model: 'Raspberry Pi 5 Model B', compatible: 'raspberrypi,5-model-b', cpu: CORTEX_A76, hardwareLine: '', addBuses: bcm2712Buses },
  cm5: { model: 'Raspberry Pi Compute Module 5', compatible: 'raspberrypi,5-compute-module', cpu: CORTEX_A76, hardwareLine: '', addBuses: bcm2712Buses },
  pi4: { model: 'Raspberry Pi 4 Model B', compatible: 'raspberrypi,4-model-b', cpu: CORTEX_A72, hardwareLine: 'Hardware\t: BCM2835\n', addBuses: bcm2711Buses },
};

/** /proc/meminfo's first lines; the probe reads only MemTotal, telemetry also MemAvailable. */
export function meminfo(memTotalKb: number): string {
  const free = Math.round(memTotalKb * 0.8);
  return `MemTotal:       ${memTotalKb} kB\nMemFree:        ${free} kB\nMemAvailable:   ${free + 40960} kB\nBuffers:           34816 kB\nCached:           409600 kB\nSwapCached:            0 kB\nSwapTotal:        524272 kB\nSwapFree:         524272 kB\n`;
}

/** Adds what every Raspberry Pi running 64-bit Raspberry Pi OS shows of itself. */
export function addPiBoard(tree: FixtureTree, node: PiNode): void {
  const shape = BOARDS[node.board];
  const model = `${shape.model} Rev ${node.pcbRevision}`;
  const soc = node.board === 'pi4' ? 'brcm,bcm2711' : 'brcm,bcm2712';
  tree.set('proc/device-tree/model', dtStrings(model));
  tree.set('proc/device-tree/compatible', dtStrings(shape.compatible, soc));
  tree.set('proc/device-tree/serial-number', dtStrings(node.serial));
  tree.set('proc/device-tree/system/linux,revision', dtU32(Number.parseInt(node.revision, 16)));
  tree.set('proc/device-tree/chosen/bootloader/build-timestamp', dtU32(node.bootloaderTimestamp));
  tree.set('proc/cpuinfo', `${processors(shape.cpu)}\n${shape.hardwareLine}Revision\t: ${node.revision}\nSerial\t\t: ${node.serial}\nModel\t\t: ${model}\n`);
  tree.set('proc/meminfo', meminfo(node.memTotalKb));
  tree.set('proc/sys/kernel/arch', 'aarch64\n');
  tree.set('sys/class/thermal/thermal_zone0/type', 'cpu-thermal\n');
  tree.set('sys/class/thermal/thermal_zone0/temp', `${node.temperatureMilliC}\n`);
  // The probe does not run vcgencmd; a timer on the node caches its output here.
  tree.set('run/edgefleet/throttled', `throttled=0x${node.throttled.toString(16)}\n`);
  tree.set('etc/hostname', `${node.hostname}\n`);
  // Random on a real node; derived here so fixtures stay deterministic.
  tree.set('etc/machine-id', `${node.serial.repeat(2)}\n`);
  addProcReadings(tree, 'eth0', 'wlan0');
  shape.addBuses(tree);
}

/** What varies per node on a PC. */
export interface PcNode {
  /** Written as /etc/machine-id, which is the serial a PC reports. */
  machineId: string;
  hostname: string;
  temperatureMilliC: number;
}

/** Adds an x86-64 PC: DMI product name, no device tree, no revision code, no throttled state. */
export function addPcBoard(tree: FixtureTree, node: PcNode): void {
  const cpu =
    'vendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 156\nmodel name\t: Intel(R) Celeron(R) N5105 @ 2.00GHz\nstepping\t: 0\ncpu MHz\t\t: 2000.000\ncache size\t: 4096 KB\ncpu cores\t: 4\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx lm sse4_2\n';
  tree.set('proc/cpuinfo', `${processors(cpu)}`);
  tree.set('proc/meminfo', meminfo(16318512));
  tree.set('proc/sys/kernel/arch', 'x86_64\n');
  tree.set('sys/class/dmi/id/sys_vendor', 'Intel(R) Client Systems\n');
  tree.set('sys/class/dmi/id/product_name', 'NUC11ATKC4\n');
  tree.set('sys/class/thermal/thermal_zone0/type', 'acpitz\n');
  tree.set('sys/class/thermal/thermal_zone0/temp', `${node.temperatureMilliC}\n`);
  tree.set('etc/hostname', `${node.hostname}\n`);
  tree.set('etc/machine-id', `${node.machineId}\n`);
  addProcReadings(tree, 'enp1s0', 'wlo1');
  addPciFunction(tree, '0000:00:00.0', '8086', '4e24');
  addPciFunction(tree, '0000:00:02.0', '8086', '4e61');
  addPciFunction(tree, '0000:00:14.0', '8086', '4ded');
  addUsbDevice(tree, 'usb1', '1d6b', '0002');
  addUsbDevice(tree, 'usb2', '1d6b', '0003');
}

/** Seconds since boot in every fixture: 6 h 12 min, long enough for load averages to settle. */
const FIXTURE_UPTIME_S = 22361.48;
/** USER_HZ on arm64 and x86-64 Linux: /proc/stat counts in hundredths of a second. */
const USER_HZ = 100;

/**
 * Per-core busy ticks since boot: user, nice, system, iowait, irq, softirq. Idle is the rest
 * of the uptime, so the numbers add up the way the kernel's do (a steady inference workload
 * keeps each core about 4 % busy).
 */
const CORE_BUSY: readonly (readonly [number, number, number, number, number, number])[] = [
  [61842, 312, 21408, 911, 0, 5217],
  [58377, 287, 19654, 702, 0, 1893],
  [63109, 341, 20187, 845, 0, 1502],
  [57961, 265, 19023, 688, 0, 1377],
];

/** /proc/stat: the `cpu` line is the exact sum of the per-core lines, as the kernel prints it. */
export function procStat(btime: number): string {
  const ticks = Math.round(FIXTURE_UPTIME_S * USER_HZ);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const cores = CORE_BUSY.map(([user, nice, system, iowait, irq, softirq]) => {
    const idle = ticks - (user + nice + system + iowait + irq + softirq);
    return [user, nice, system, idle, iowait, irq, softirq, 0, 0, 0];
  });
  const sum = cores.reduce((acc, c) => acc.map((v, i) => v + (c[i] as number)), new Array<number>(10).fill(0));
  const line = (name: string, fields: number[]): string => `${name} ${fields.join(' ')}`;
  return [
    `cpu  ${sum.join(' ')}`,
    ...cores.map((c, i) => line(`cpu${i}`, c)),
    'intr 48210567 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0',
    'ctxt 91837465',
    `btime ${btime}`,
    'processes 20417',
    'procs_running 2',
    'procs_blocked 0',
    'softirq 9914032 0 2407566 1271 2214598 0 0 1190843 2461077 0 1638677',
    '',
  ].join('\n');
}

/** /proc/uptime: seconds since boot, then idle seconds summed over the cores. */
export function procUptime(): string {
  const ticks = Math.round(FIXTURE_UPTIME_S * USER_HZ);
  const idle = CORE_BUSY.reduce((acc, [u, n, s, w, i, q]) => acc + ticks - (u + n + s + w + i + q), 0);
  return `${FIXTURE_UPTIME_S.toFixed(2)} ${(idle / USER_HZ).toFixed(2)}\n`;
}

/** One interface's counters: rx bytes packets errs drop fifo frame compressed multicast, tx bytes packets errs drop fifo colls carrier compressed. */
type NetCounters = readonly [number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number];

/** /proc/net/dev, in the kernel's column layout (net/core/net-procfs.c). */
export function procNetDev(interfaces: readonly (readonly [string, NetCounters])[]): string {
  const widths = [8, 7, 4, 4, 4, 5, 10, 9, 8, 7, 4, 4, 4, 5, 7, 10];
  const rows = interfaces.map(([name, c]) => `${name.padStart(6)}:${c.map((v, i) => `${v}`.padStart(widths[i] as number)).join(' ')}`);
  return [
    'Inter-|   Receive                                                |  Transmit',
    ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed',
    ...rows,
    '',
  ].join('\n');
}

const LOOPBACK: NetCounters = [4182930, 41207, 0, 0, 0, 0, 0, 0, 4182930, 41207, 0, 0, 0, 0, 0, 0];

/**
 * The procfs readings telemetry samples: /proc/stat, /proc/loadavg, /proc/uptime and
 * /proc/net/dev (meminfo is written with the board). Wired Ethernet carries the traffic
 * (camera frames in, results and telemetry out); Wi-Fi is up but idle.
 */
export function addProcReadings(tree: FixtureTree, wired: string, wireless: string): void {
  // Boot time consistent with the uptime, for a fixed "now" of 2025-01-15T12:00:00Z.
  tree.set('proc/stat', procStat(1736942400 - Math.floor(FIXTURE_UPTIME_S)));
  tree.set('proc/loadavg', '0.84 0.71 0.66 3/312 20417\n');
  tree.set('proc/uptime', procUptime());
  tree.set(
    'proc/net/dev',
    procNetDev([
      ['lo', LOOPBACK],
      [wired, [1843219543, 1534879, 0, 0, 0, 0, 0, 2143, 289410233, 912345, 0, 0, 0, 0, 0, 0]],
      [wireless, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
    ]),
  );
}
