import type { HardwareFacts } from '@edgefleet/protocol';
import { cleanLine, readLine, readText } from './fs.js';
import { decodeRevisionCode, slugFromModel } from './revision-code.js';

/** What the board reads produce: the `board` facts and the memory size. */
interface BoardReading {
  board: HardwareFacts['board'];
  memoryBytes: number | null;
}

/** Returns the value of the first `Key : value` line of /proc/cpuinfo named `key`, or null. */
function cpuinfoField(cpuinfo: string | null, key: string): string | null {
  if (cpuinfo === null) return null;
  for (const line of cpuinfo.split('\n')) {
    const colon = line.indexOf(':');
    if (colon !== -1 && line.slice(0, colon).trim() === key) return cleanLine(line.slice(colon + 1));
  }
  return null;
}

/**
 * A serial we can key a node's record on: one token, not all zeros (VMs and some boards
 * report `0000000000000000`, which would merge every such node into one record).
 */
function usableSerial(value: string | null): string | null {
  if (value === null || !/^[A-Za-z0-9._-]{4,64}$/.test(value) || /^0+$/.test(value)) return null;
  return value;
}

/** Reads model, serial, revision code, slug and memory size. */
export async function readBoard(hwRoot: string, cpuinfo: string | null): Promise<BoardReading> {
  const model =
    (await readLine(hwRoot, 'proc/device-tree/model')) ?? cpuinfoField(cpuinfo, 'Model') ?? (await readLine(hwRoot, 'sys/class/dmi/id/product_name'));

  // The Pi serial is burnt into the SoC, so it survives re-imaging; on a PC the
  // machine-id is the most stable id readable without root (product_uuid needs root).
  const serial =
    usableSerial(await readLine(hwRoot, 'proc/device-tree/serial-number')) ??
    usableSerial(cpuinfoField(cpuinfo, 'Serial')) ??
    machineId(await readLine(hwRoot, 'etc/machine-id'));

  const rawRevision = cpuinfoField(cpuinfo, 'Revision');
  const revisionCode = rawRevision !== null && /^[0-9a-fA-F]{1,8}$/.test(rawRevision) ? rawRevision.toLowerCase() : null;
  const decoded = revisionCode === null ? null : decodeRevisionCode(revisionCode);

  const slug = decoded?.slug ?? (model === null ? null : slugFromModel(model)) ?? 'generic';
  const memoryBytes = decoded?.memoryBytes ?? (await memTotalBytes(hwRoot));
  return { board: { model, slug, serial, revisionCode }, memoryBytes };
}

/** `/etc/machine-id` is 32 lowercase hex digits (machine-id(5)); anything else is malformed. */
function machineId(value: string | null): string | null {
  return value !== null && /^[0-9a-f]{32}$/.test(value) && !/^0+$/.test(value) ? value : null;
}

/** MemTotal from /proc/meminfo in bytes (the kernel prints kB, meaning KiB). */
async function memTotalBytes(hwRoot: string): Promise<number | null> {
  const meminfo = await readText(hwRoot, 'proc/meminfo');
  const match = meminfo?.match(/^MemTotal:\s+(\d{1,12}) kB$/m);
  if (match?.[1] === undefined) return null;
  const kib = Number(match[1]);
  return kib > 0 ? kib * 1024 : null;
}
