/**
 * What a probe remembers between two reads of the same node: the ids read from device
 * entries that are still listed. A PCI function's vendor and device, a USB root hub's ids
 * and a Hailo driver entry's location and ids cannot change while the entry exists — on a
 * Pi, PCIe is not hot-pluggable (a HAT is swapped with the power off, and the agent starts
 * again), a root hub is a host controller, and a driver entry belongs to the device it was
 * made for. So each is read once and forgotten as soon as a scan no longer lists its
 * entry: a device that disappears is noticed at the next probe, one that comes back is
 * read again. The listings themselves are read at every probe; they are the presence check.
 */

/** Values read from one kind of entry, by entry name. */
class EntryMemo<T> {
  private readonly values = new Map<string, T>();

  /** @param complete whether a value is worth keeping: one with a failed read is read again next time. */
  constructor(private readonly complete: (value: T) => boolean) {}

  /** The value remembered for `name`, or what `read` returns (kept when complete). */
  async get(name: string, read: () => Promise<T>): Promise<T> {
    const known = this.values.get(name);
    if (known !== undefined) return known;
    const value = await read();
    if (this.complete(value)) this.values.set(name, value);
    return value;
  }

  /** Forgets every entry not in `listed` (the scan just taken). */
  retain(listed: readonly string[]): void {
    if (this.values.size === 0) return;
    const present = new Set(listed);
    for (const name of this.values.keys()) if (!present.has(name)) this.values.delete(name);
  }
}

/** PCI ids as sysfs prints them, normalised; null when unreadable. */
type PciIds = { vendor: string; device: string } | null;
/** USB ids as sysfs prints them, normalised; null when unreadable. */
export type UsbIds = { vendor: string; product: string } | null;
/** The raw lines of a `sys/class/hailo_chardev/hailoN` entry. */
interface HailoChardevLines {
  boardLocation: string | null;
  deviceId: string | null;
  acceleratorType: string | null;
}

/** The memos of one node's probe. A new set remembers nothing: a one-off probe reads everything. */
export interface KnownDevices {
  pci: EntryMemo<PciIds>;
  /** Root hubs only (`usbN`): another device may take a port's name between two probes. */
  usbRootHubs: EntryMemo<UsbIds>;
  hailoChardevs: EntryMemo<HailoChardevLines>;
}

export function knownDevices(): KnownDevices {
  return {
    pci: new EntryMemo((ids) => ids !== null),
    usbRootHubs: new EntryMemo((ids) => ids !== null),
    hailoChardevs: new EntryMemo((l) => l.boardLocation !== null && l.deviceId !== null && l.acceleratorType !== null),
  };
}
