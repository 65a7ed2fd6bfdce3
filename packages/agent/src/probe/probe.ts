import type { HardwareFacts } from '@edgefleet/protocol';
import { readAccelerators } from './accelerators.js';
import { readBoard } from './board.js';
import { readCpu } from './cpu.js';
import { readFirmware } from './firmware.js';
import { readLine, readText } from './fs.js';
import { type KnownDevices, knownDevices } from './known-devices.js';
import { readThermal } from './thermal.js';

/** Options of {@link probeHardware}. */
export interface ProbeOptions {
  /** The agent's version, reported with the facts. */
  agentVersion: string;
  /** Overrides `etc/hostname` (the agent passes os.hostname() in production). */
  hostname?: string;
}

/**
 * Reads what the hardware under `hwRoot` is: `/` on a node, a fixture folder in tests
 * and in the simulator. Every path is `hwRoot` joined with the path a real node has
 * (`proc/cpuinfo`, `sys/bus/pci/devices/…`). It never throws for missing or malformed
 * files: each unknown value is null (never guessed), the board slug falls back to
 * `generic` and the CPU architecture to `unknown`. A one-off read; the agent, which probes
 * at every heartbeat, keeps a {@link HardwareProbe}.
 */
export async function probeHardware(hwRoot: string, opts: ProbeOptions): Promise<HardwareFacts> {
  return new HardwareProbe(hwRoot, opts).read();
}

/** The facts fixed at boot: board, memory, CPU and the bootloader that booted it. */
type BootFacts = Pick<HardwareFacts, 'board' | 'cpu' | 'memoryBytes' | 'firmware'>;

/**
 * One node's probe, read again at every heartbeat. What cannot change while the system
 * runs — the board (model, serial, revision), memory size, CPU, the bootloader build (the
 * device tree is written at boot) and the ids of devices still present — is read once;
 * temperature, throttling, the hostname, the cached identify output and which devices
 * are present are read every time, so a failed or hot-plugged accelerator is noticed at
 * the next probe. The agent makes a new probe when it starts, as after a reboot. The boot
 * facts are the same objects in every read: callers treat facts as read-only.
 */
export class HardwareProbe {
  private boot: BootFacts | undefined;
  private readonly known: KnownDevices = knownDevices();

  constructor(
    private readonly hwRoot: string,
    private readonly opts: ProbeOptions,
  ) {}

  async read(): Promise<HardwareFacts> {
    const hwRoot = this.hwRoot;
    const [boot, thermal, accelerators, hostFile] = await Promise.all([
      this.boot ?? readBootFacts(hwRoot),
      readThermal(hwRoot),
      readAccelerators(hwRoot, this.known),
      this.opts.hostname === undefined ? readLine(hwRoot, 'etc/hostname') : null,
    ]);
    // An unknown boot fact may have been a failed read (out of file descriptors, say): only
    // a complete set is kept; a node that lacks one (a PC has no revision code) reads them all again.
    if (isComplete(boot)) this.boot = boot;
    const { board, cpu, memoryBytes, firmware } = boot;
    return {
      board,
      cpu,
      memoryBytes,
      firmware,
      thermal,
      accelerators,
      hostname: this.opts.hostname ?? validHostname(hostFile),
      agentVersion: this.opts.agentVersion,
    };
  }
}

async function readBootFacts(hwRoot: string): Promise<BootFacts> {
  const cpuinfo = await readText(hwRoot, 'proc/cpuinfo');
  const [{ board, memoryBytes }, cpu, firmware] = await Promise.all([readBoard(hwRoot, cpuinfo), readCpu(hwRoot, cpuinfo), readFirmware(hwRoot)]);
  return { board, cpu, memoryBytes, firmware };
}

function isComplete(boot: BootFacts): boolean {
  const values = [...Object.values(boot.board), ...Object.values(boot.cpu), boot.memoryBytes, ...Object.values(boot.firmware)];
  return values.every((v) => v !== null);
}

/** A hostname is letters, digits, dots and hyphens (RFC 1123); anything else is malformed. */
function validHostname(value: string | null): string | null {
  return value !== null && /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(value) ? value : null;
}
