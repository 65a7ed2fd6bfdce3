import type { HardwareFacts } from '@edgefleet/protocol';
import { readAccelerators } from './accelerators.js';
import { readBoard } from './board.js';
import { readCpu } from './cpu.js';
import { readFirmware } from './firmware.js';
import { readLine, readText } from './fs.js';
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
 * `generic` and the CPU architecture to `unknown`.
 */
export async function probeHardware(hwRoot: string, opts: ProbeOptions): Promise<HardwareFacts> {
  const cpuinfo = await readText(hwRoot, 'proc/cpuinfo');
  const [{ board, memoryBytes }, cpu, firmware, thermal, accelerators, hostFile] = await Promise.all([
    readBoard(hwRoot, cpuinfo),
    readCpu(hwRoot, cpuinfo),
    readFirmware(hwRoot),
    readThermal(hwRoot),
    readAccelerators(hwRoot),
    readLine(hwRoot, 'etc/hostname'),
  ]);
  return { board, cpu, memoryBytes, firmware, thermal, accelerators, hostname: opts.hostname ?? validHostname(hostFile), agentVersion: opts.agentVersion };
}

/** A hostname is letters, digits, dots and hyphens (RFC 1123); anything else is malformed. */
function validHostname(value: string | null): string | null {
  return value !== null && /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(value) ? value : null;
}
