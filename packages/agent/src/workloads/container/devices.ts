import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Accelerator, Release } from '@edgefleet/protocol';
import type { DeviceMapping } from './run-args.js';

/**
 * Which device nodes a container gets: those of the accelerators the probe found, and only
 * for a primary whose release asks for the accelerator (`required` or `preferred`). The CPU
 * fallback and releases with `accelerator: none` get none. Paths are the node's own
 * (`/dev/hailo0`) inside the container, read under the agent's `--hw-root` on the host.
 */
export function acceleratorDeviceMappings(
  hwRoot: string,
  accelerators: readonly Pick<Accelerator, 'device' | 'busLocation'>[],
  readSys: (path: string) => string | undefined = (path) => readSysFile(hwRoot, path),
): DeviceMapping[] {
  const out: DeviceMapping[] = [];
  for (const a of accelerators) {
    let node: string | undefined;
    if (a.device.startsWith('/dev/')) node = a.device;
    else if (a.device.startsWith('usb:') && a.busLocation !== undefined && /^[0-9.-]+$/.test(a.busLocation)) {
      // The Coral USB Accelerator is reached through its USB bus device node.
      const bus = Number(readSys(`sys/bus/usb/devices/${a.busLocation}/busnum`));
      const dev = Number(readSys(`sys/bus/usb/devices/${a.busLocation}/devnum`));
      if (Number.isInteger(bus) && bus > 0 && Number.isInteger(dev) && dev > 0)
        node = `/dev/bus/usb/${String(bus).padStart(3, '0')}/${String(dev).padStart(3, '0')}`;
    }
    if (node === undefined || node.includes('..') || out.some((d) => d.container === node)) continue;
    out.push({ host: join(hwRoot, node), container: node });
  }
  return out;
}

/** Whether the primary of `release` asks for the accelerator, so its container gets the devices. */
export function wantsAccelerator(release: Release, part: 'primary' | 'fallback'): boolean {
  return part === 'primary' && (release.runtime.accelerator === 'required' || release.runtime.accelerator === 'preferred');
}

function readSysFile(hwRoot: string, path: string): string | undefined {
  try {
    return readFileSync(join(hwRoot, path), 'utf8').trim();
  } catch {
    return undefined;
  }
}
