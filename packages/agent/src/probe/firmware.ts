import type { HardwareFacts } from '@edgefleet/protocol';
import { readBytes } from './fs.js';

/**
 * Reads the Pi bootloader's build time. The device tree holds it as a big-endian unsigned
 * 32-bit count of seconds since 1970; anything but exactly four bytes is malformed (a
 * truncated read must not become a plausible-looking date). `version` is the UTC build
 * date as `YYYYMMDD`, the form `rpi-eeprom-update` and the `firmware.version` label use.
 */
export async function readFirmware(hwRoot: string): Promise<HardwareFacts['firmware']> {
  const bytes = await readBytes(hwRoot, 'proc/device-tree/chosen/bootloader/build-timestamp');
  if (bytes === null || bytes.length !== 4) return { bootloaderBuildTime: null, version: null };
  const seconds = bytes.readUInt32BE(0);
  // Zero is an unset property, not a build from 1970.
  if (seconds === 0) return { bootloaderBuildTime: null, version: null };
  const iso = new Date(seconds * 1000).toISOString();
  return { bootloaderBuildTime: iso, version: iso.slice(0, 10).replaceAll('-', '') };
}
