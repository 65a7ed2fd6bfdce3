/**
 * Parses `hailortcli fw-control identify` output, which the probe reads from a cache file
 * rather than running the tool (the probe must work against a fixture folder, and on a
 * node without HailoRT installed).
 */

/** Where a timer on the node caches `hailortcli fw-control identify` output. */
export const HAILO_IDENTIFY_CACHE_PATH = 'run/edgefleet/hailortcli-identify.txt';

/** What one identify block says about one device; fields the tool left out are absent. */
export interface HailoIdentity {
  /** PCI address from `Executing on device: 0001:01:00.0`. */
  location?: string;
  /** `Device Architecture`, upper-cased: `HAILO8L`, `HAILO8`, `HAILO10H`. */
  architecture?: string;
  serial?: string;
  /** The version number of `Firmware Version: 4.23.0 (release,app,…)`. */
  firmwareVersion?: string;
}

/**
 * Splits identify output into one identity per `Executing on device:` block (output for
 * several devices may be concatenated). HailoRT 4.x prints `<N/A>` for empty fields and
 * 5.x omits them; both end up absent. Error output (`[HailoRT] [error] …`) and garbage
 * yield no identities.
 */
export function parseHailoIdentify(text: string): HailoIdentity[] {
  const identities: HailoIdentity[] = [];
  let current: HailoIdentity = {};
  const flush = (): void => {
    if (current.architecture !== undefined || current.serial !== undefined || current.firmwareVersion !== undefined) identities.push(current);
    current = {};
  };
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (key === 'Executing on device') {
      flush();
      if (/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/i.test(value)) current.location = value.toLowerCase();
      continue;
    }
    if (value === '' || value === '<N/A>') continue;
    if (key === 'Device Architecture' && /^HAILO[0-9A-Z]{1,8}$/i.test(value)) current.architecture = value.toUpperCase();
    else if (key === 'Serial Number' && /^[A-Za-z0-9._-]{1,64}$/.test(value)) current.serial = value;
    else if (key === 'Firmware Version') {
      const version = value.split(/\s/, 1)[0] ?? '';
      if (/^\d{1,4}(\.\d{1,4}){1,3}$/.test(version)) current.firmwareVersion = version;
    }
  }
  flush();
  return identities;
}
