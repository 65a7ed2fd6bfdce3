import type { Accelerator } from '@edgefleet/protocol';
import { compareText, scanBuses } from './buses.js';
import { detectCoral } from './coral.js';
import { detectHailo } from './hailo.js';
import { type KnownDevices, knownDevices } from './known-devices.js';

/**
 * All AI accelerators under `hwRoot`, deduplicated and in a fixed order: PCIe devices
 * (HATs, M.2 modules) before USB ones, then by bus location. The order is part of the
 * contract — the first entry is the node's primary accelerator, and facts compared across
 * heartbeats must not differ by scan order. `known` carries ids read by earlier probes of
 * the same node (see known-devices.ts); without it everything is read.
 */
export async function readAccelerators(hwRoot: string, known: KnownDevices = knownDevices()): Promise<Accelerator[]> {
  const scan = await scanBuses(hwRoot, known);
  const found = [...(await detectHailo(hwRoot, scan, known)), ...(await detectCoral(hwRoot, scan))];

  // Each detector merges its own paths; this guards the invariant across detectors.
  const byKey = new Map<string, Accelerator>();
  for (const a of found) {
    const key = `${isUsb(a) ? 'usb' : 'pci'}|${a.busLocation ?? a.device}`;
    if (!byKey.has(key)) byKey.set(key, a);
  }
  return [...byKey.values()].sort(compareAccelerators);
}

function isUsb(a: Accelerator): boolean {
  return a.kind === 'coral-usb';
}

function compareAccelerators(a: Accelerator, b: Accelerator): number {
  if (isUsb(a) !== isUsb(b)) return isUsb(a) ? 1 : -1;
  return compareText(a.busLocation ?? '', b.busLocation ?? '') || compareText(a.device, b.device) || compareText(a.kind, b.kind);
}
