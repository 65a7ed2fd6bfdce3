import { listDir, readLine } from './fs.js';
import { type KnownDevices, knownDevices, type UsbIds } from './known-devices.js';

/**
 * Bus scans shared by the accelerator detectors: PCI functions and USB devices as sysfs
 * lists them, and the device nodes under /dev. Ids are normalised to four lowercase hex
 * digits so detectors compare plain strings.
 */

/** A PCI function from `sys/bus/pci/devices/<address>/{vendor,device}`. */
interface PciFunction {
  /** Domain:bus:device.function, e.g. `0001:01:00.0` (the sysfs directory name). */
  address: string;
  vendor: string;
  device: string;
}

/** A USB device from `sys/bus/usb/devices/<port>/{idVendor,idProduct}`. */
interface UsbDevice {
  /** The sysfs name, a bus-port path such as `2-1`. */
  port: string;
  vendor: string;
  product: string;
}

/** The scans every detector reads from; taken once per probe. */
export interface BusScan {
  pci: PciFunction[];
  usb: UsbDevice[];
  /** Entry names under /dev, sorted. */
  devNodes: string[];
}

const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

/** sysfs prints PCI ids as `0x1e60`. */
function pciHex(value: string | null): string | null {
  const match = value?.match(/^0x([0-9a-fA-F]{4})$/);
  return match?.[1]?.toLowerCase() ?? null;
}

/** sysfs prints USB ids as four hex digits without a prefix (`18d1`). */
function usbHex(value: string | null): string | null {
  return value !== null && /^[0-9a-fA-F]{4}$/.test(value) ? value.toLowerCase() : null;
}

async function scanPci(hwRoot: string, known: KnownDevices): Promise<PciFunction[]> {
  const addresses = (await listDir(hwRoot, 'sys/bus/pci/devices')).filter((a) => PCI_ADDRESS.test(a));
  known.pci.retain(addresses);
  const found = await Promise.all(
    addresses.map(async (address): Promise<PciFunction | null> => {
      const ids = await known.pci.get(address, async () => {
        const dir = `sys/bus/pci/devices/${address}`;
        const vendor = pciHex(await readLine(hwRoot, `${dir}/vendor`));
        const device = pciHex(await readLine(hwRoot, `${dir}/device`));
        return vendor === null || device === null ? null : { vendor, device };
      });
      return ids === null ? null : { address, ...ids };
    }),
  );
  return found.filter((f) => f !== null);
}

/** A root hub (`usb2`) is the host controller itself, never plugged in or out. */
const USB_ROOT_HUB = /^usb\d+$/;

async function scanUsb(hwRoot: string, known: KnownDevices): Promise<UsbDevice[]> {
  // Interface entries (`2-1:1.0`) have no idVendor and drop out below.
  const ports = await listDir(hwRoot, 'sys/bus/usb/devices');
  known.usbRootHubs.retain(ports);
  const readIds = async (port: string): Promise<UsbIds> => {
    const vendor = usbHex(await readLine(hwRoot, `sys/bus/usb/devices/${port}/idVendor`));
    const product = usbHex(await readLine(hwRoot, `sys/bus/usb/devices/${port}/idProduct`));
    return vendor === null || product === null ? null : { vendor, product };
  };
  const found = await Promise.all(
    ports.map(async (port): Promise<UsbDevice | null> => {
      const ids = USB_ROOT_HUB.test(port) ? await known.usbRootHubs.get(port, () => readIds(port)) : await readIds(port);
      return ids === null ? null : { port, ...ids };
    }),
  );
  return found.filter((d) => d !== null);
}

/**
 * Scans PCI, USB and /dev under `hwRoot`. Every listing is read again; the ids of entries
 * `known` still lists are not (see known-devices.ts).
 */
export async function scanBuses(hwRoot: string, known: KnownDevices = knownDevices()): Promise<BusScan> {
  const [pci, usb, devNodes] = await Promise.all([scanPci(hwRoot, known), scanUsb(hwRoot, known), listDir(hwRoot, 'dev')]);
  return { pci, usb, devNodes };
}

/** Device-node names matching `prefix` followed by an index, in index order (`hailo2` before `hailo10`). */
export function indexedNodes(devNodes: readonly string[], prefix: string): string[] {
  const pattern = new RegExp(`^${prefix}(\\d{1,4})$`);
  return devNodes
    .map((name) => ({ name, index: Number(pattern.exec(name)?.[1] ?? Number.NaN) }))
    .filter((n) => !Number.isNaN(n.index))
    .sort((a, b) => a.index - b.index)
    .map((n) => n.name);
}

/** Locale-independent string order (bus addresses, node names), so results never depend on the node's locale. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
