/**
 * A hardware fixture under construction: relative path → contents. Builders add the files
 * a real node has; {@link writeTree} writes them in one pass, so the simulator can lay out
 * thousands of nodes quickly.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Relative path (as on a node, no leading `/`) → file contents. */
export type FixtureTree = Map<string, string | Uint8Array>;

/** A device-tree string property: NUL-terminated; a list is NUL-separated. */
export function dtStrings(...values: string[]): string {
  return values.map((v) => `${v}\0`).join('');
}

/** A device-tree u32 cell: four big-endian bytes. */
export function dtU32(value: number): Uint8Array {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32BE(value, 0);
  return bytes;
}

/** Adds one PCI function as sysfs shows it (`0x1e60\n`). */
export function addPciFunction(tree: FixtureTree, address: string, vendor: string, device: string): void {
  tree.set(`sys/bus/pci/devices/${address}/vendor`, `0x${vendor}\n`);
  tree.set(`sys/bus/pci/devices/${address}/device`, `0x${device}\n`);
}

/** Adds one USB device as sysfs shows it (`18d1\n`, no prefix). */
export function addUsbDevice(tree: FixtureTree, port: string, vendor: string, product: string): void {
  tree.set(`sys/bus/usb/devices/${port}/idVendor`, `${vendor}\n`);
  tree.set(`sys/bus/usb/devices/${port}/idProduct`, `${product}\n`);
}

/** Adds a /dev node; in a fixture it is an empty regular file, since only its presence matters. */
export function addDevNode(tree: FixtureTree, name: string): void {
  tree.set(`dev/${name}`, '');
}

/** Writes the tree under `dir`, creating directories first; existing other files are left alone. */
export async function writeTree(dir: string, tree: FixtureTree): Promise<void> {
  const dirs = new Set([...tree.keys()].map((rel) => path.dirname(path.join(dir, rel))));
  // Recursive mkdir tolerates a concurrent call creating the same parent.
  await Promise.all([...dirs].map((d) => mkdir(d, { recursive: true })));
  await Promise.all([...tree].map(([rel, contents]) => writeFile(path.join(dir, rel), contents)));
}
