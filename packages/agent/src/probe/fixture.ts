import { addCoralPcie, addCoralUsb, addHailo, IDENTIFY_HAILO8, IDENTIFY_HAILO8L, IDENTIFY_HAILO10H, IDENTIFY_HAILO10H_LEGACY } from './fixture-accelerators.js';
import { addPcBoard, addPiBoard, type PiBoard } from './fixture-board.js';
import { type FixtureTree, writeTree } from './fixture-tree.js';

/** The hardware setups a fixture can emulate; `examples/hardware/<preset>/` holds one of each. */
export type HardwarePreset =
  | 'pi5-hailo8l'
  | 'pi5-hailo8'
  | 'pi5-hailo10h'
  | 'pi5-hailo10h-legacy-driver'
  | 'pi5-coral-pcie'
  | 'pi5-nohat'
  | 'pi4-coral-usb'
  | 'cm5-hailo8l'
  | 'pc-amd64';

/** Options of {@link writeHardwareFixture}; every default is fixed, so output is deterministic. */
export interface FixtureOptions {
  /** Board serial: 16 lowercase hex digits on a Pi; 32 on `pc-amd64`, where it is /etc/machine-id. */
  serial?: string;
  /** SoC temperature in millidegrees Celsius; default 52345 (52.3 °C). */
  temperatureMilliC?: number;
  /** Bootloader build time in seconds since 1970; default 1701887365 (2023-12-06). */
  bootloaderTimestamp?: number;
  /**
   * `vcgencmd get_throttled` bits (Pi only); default 0x50005, under-voltage now and since
   * boot, so every fixture exercises the parse with a non-zero value.
   */
  throttled?: number;
  /** Hostname; default `edge-` and the serial's last six digits. */
  hostname?: string;
}

interface PiPreset {
  kind: 'pi';
  board: PiBoard;
  revision: string;
  pcbRevision: string;
  memTotalKb: number;
  serial: string;
  accelerator: (tree: FixtureTree) => void;
}

interface PcPreset {
  kind: 'pc';
  serial: string;
}

const none = (): void => {};

/**
 * What each preset is. Serials are fixed per preset so the committed examples and a fresh
 * write agree byte for byte; revision codes vary the PCB revision and RAM like a real fleet.
 */
const PRESETS: Readonly<Record<HardwarePreset, PiPreset | PcPreset>> = {
  'pi5-hailo8l': {
    kind: 'pi',
    board: 'pi5',
    revision: 'd04170',
    pcbRevision: '1.0',
    memTotalKb: 8245016,
    serial: '05a350ebd1b50841',
    accelerator: (t) => addHailo(t, { pciDevice: '2864', driver: 'hailo_pci', identify: IDENTIFY_HAILO8L }),
  },
  'pi5-hailo8': {
    kind: 'pi',
    board: 'pi5',
    revision: 'd04171',
    pcbRevision: '1.1',
    memTotalKb: 8245016,
    serial: '7c2a91d04e8b3f16',
    accelerator: (t) => addHailo(t, { pciDevice: '2864', driver: 'hailo_pci', identify: IDENTIFY_HAILO8 }),
  },
  'pi5-hailo10h': {
    kind: 'pi',
    board: 'pi5',
    revision: 'e04171',
    pcbRevision: '1.1',
    memTotalKb: 16608032,
    serial: '3e9f5c07a1d24b88',
    accelerator: (t) => addHailo(t, { pciDevice: '45c4', driver: 'hailo1x_pci', identify: IDENTIFY_HAILO10H }),
  },
  'pi5-hailo10h-legacy-driver': {
    kind: 'pi',
    board: 'pi5',
    revision: 'd04171',
    pcbRevision: '1.1',
    memTotalKb: 8245016,
    serial: 'b81d6f4a92c05e37',
    accelerator: (t) => addHailo(t, { pciDevice: '45c4', driver: 'hailo_pci', identify: IDENTIFY_HAILO10H_LEGACY }),
  },
  'pi5-coral-pcie': {
    kind: 'pi',
    board: 'pi5',
    revision: 'c04171',
    pcbRevision: '1.1',
    memTotalKb: 4122508,
    serial: '1f4c8e2d7a905b63',
    accelerator: addCoralPcie,
  },
  'pi5-nohat': { kind: 'pi', board: 'pi5', revision: 'c04170', pcbRevision: '1.0', memTotalKb: 4122508, serial: 'e6a07b39c15d2f84', accelerator: none },
  'pi4-coral-usb': {
    kind: 'pi',
    board: 'pi4',
    revision: 'c03115',
    pcbRevision: '1.5',
    memTotalKb: 3885396,
    serial: '10000000a3c5e9f1',
    accelerator: addCoralUsb,
  },
  // No identify cache: HailoRT is not installed, so the probe must fall back to the PCI id.
  'cm5-hailo8l': {
    kind: 'pi',
    board: 'cm5',
    revision: 'd04180',
    pcbRevision: '1.0',
    memTotalKb: 8245016,
    serial: '9d2b4f61e0a87c35',
    accelerator: (t) => addHailo(t, { pciDevice: '2864', driver: 'hailo_pci' }),
  },
  'pc-amd64': { kind: 'pc', serial: '4f1c2e8a9b7d4c3e8f6a5b2d1c0e9f87' },
};

/** Every preset, in a fixed order. */
export const HARDWARE_PRESETS: readonly HardwarePreset[] = Object.keys(PRESETS) as HardwarePreset[];

/**
 * Writes a fixture folder that looks, through the probe's eyes, like the root filesystem
 * of `preset` hardware: NUL-terminated device-tree strings, the binary bootloader
 * timestamp, cpuinfo, meminfo, the procfs readings telemetry samples (stat, loadavg, uptime,
 * net/dev), thermal and sysfs bus entries, /dev nodes as empty files,
 * and the identify/throttled caches a node's timer would leave. Files are added to `dir`
 * (created if needed); nothing else in it is removed. Same arguments, same bytes.
 *
 * @throws RangeError when an option is out of range (a serial in the wrong form would
 * make the probe report no serial, which is worse than failing here).
 */
export async function writeHardwareFixture(dir: string, preset: HardwarePreset, opts: FixtureOptions = {}): Promise<void> {
  const spec = PRESETS[preset];
  const serial = opts.serial ?? spec.serial;
  const serialForm = spec.kind === 'pc' ? /^[0-9a-f]{32}$/ : /^[0-9a-f]{16}$/;
  if (!serialForm.test(serial) || /^0+$/.test(serial))
    throw new RangeError(`fixture serial "${serial}" for ${preset} must match ${serialForm} and not be all zeros`);
  const temperatureMilliC = checkInt('temperatureMilliC', opts.temperatureMilliC ?? 52345, -40_000, 150_000);
  const hostname = opts.hostname ?? `edge-${serial.slice(-6)}`;

  const tree: FixtureTree = new Map();
  if (spec.kind === 'pc') {
    addPcBoard(tree, { machineId: serial, hostname, temperatureMilliC });
  } else {
    addPiBoard(tree, {
      board: spec.board,
      revision: spec.revision,
      pcbRevision: spec.pcbRevision,
      memTotalKb: spec.memTotalKb,
      serial,
      hostname,
      temperatureMilliC,
      bootloaderTimestamp: checkInt('bootloaderTimestamp', opts.bootloaderTimestamp ?? 1701887365, 1, 0xffff_ffff),
      throttled: checkInt('throttled', opts.throttled ?? 0x50005, 0, 0xffff_ffff),
    });
    spec.accelerator(tree);
  }
  await writeTree(dir, tree);
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`fixture ${name} must be an integer from ${min} to ${max}, got ${value}`);
  return value;
}
