import type { HardwareFacts } from '@edgefleet/protocol';
import { readLine } from './fs.js';

/**
 * Where the throttled bits come from, in order of preference:
 *
 * 1. `sys/devices/platform/soc/soc:firmware/get_throttled` — a live value: Raspberry Pi
 *    kernels' firmware driver (drivers/firmware/raspberrypi.c) prints it with `%x`, so it
 *    is bare hex (`50005`). The driver marks it deprecated in favour of hwmon, and newer
 *    kernels (and the Pi 5's differently named soc node) may not have it, hence the cache.
 * 2. `run/edgefleet/throttled` — the output of `vcgencmd get_throttled`
 *    (`throttled=0x50005`) cached by a timer on the node: the probe never runs vcgencmd
 *    itself, because it must work against a fixture folder and without the video group.
 */
export const THROTTLED_SYSFS_PATH = 'sys/devices/platform/soc/soc:firmware/get_throttled';
/** The cached `vcgencmd get_throttled` output; see {@link THROTTLED_SYSFS_PATH}. */
export const THROTTLED_CACHE_PATH = 'run/edgefleet/throttled';

/** Reads the SoC temperature and the firmware's throttled bits. */
export async function readThermal(hwRoot: string): Promise<HardwareFacts['thermal']> {
  const temp = await readLine(hwRoot, 'sys/class/thermal/thermal_zone0/temp');
  // The kernel reports millidegrees; one decimal is all a heartbeat needs.
  const temperatureC = temp !== null && /^-?\d{1,7}$/.test(temp) ? Math.round(Number(temp) / 100) / 10 : null;
  return { temperatureC, throttledBits: await readThrottled(hwRoot) };
}

async function readThrottled(hwRoot: string): Promise<number | null> {
  const sysfs = await readLine(hwRoot, THROTTLED_SYSFS_PATH);
  const live = sysfs?.match(/^(?:0x)?([0-9a-fA-F]{1,8})$/);
  if (live?.[1] !== undefined) return Number.parseInt(live[1], 16);
  const cached = (await readLine(hwRoot, THROTTLED_CACHE_PATH))?.match(/^throttled=0x([0-9a-fA-F]{1,8})$/);
  return cached?.[1] === undefined ? null : Number.parseInt(cached[1], 16);
}
