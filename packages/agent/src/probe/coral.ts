import type { Accelerator } from '@edgefleet/protocol';
import { type BusScan, indexedNodes } from './buses.js';
import { listDir } from './fs.js';

/**
 * Coral Edge TPU detection. The PCIe module is `1ac1:089a` and the gasket/apex driver
 * gives it `/dev/apex_N` and `sys/class/apex/apex_N`. The USB Accelerator enumerates as
 * `1a6e:089a` until its firmware is loaded (by the Edge TPU runtime on first use), then
 * re-enumerates as `18d1:9302`; both mean the same stick.
 */

const CORAL_PCI_ID = '1ac1:089a';
const CORAL_USB_IDS: Readonly<Record<string, string>> = {
  '1a6e:089a': 'usb-id 1a6e:089a (before its firmware loads)',
  '18d1:9302': 'usb-id 18d1:9302',
};

/** Finds Coral PCIe modules (paired with apex nodes in address order) and USB Accelerators. */
export async function detectCoral(hwRoot: string, scan: BusScan): Promise<Accelerator[]> {
  const found: Accelerator[] = [];

  // The driver numbers apex nodes in probe order, which follows PCI address order.
  const sysfsNodes = new Set(await listDir(hwRoot, 'sys/class/apex'));
  const nodes = indexedNodes([...new Set([...scan.devNodes, ...sysfsNodes])], 'apex_');
  const evidenceFor = (node: string): string[] => [
    ...(scan.devNodes.includes(node) ? [`/dev/${node}`] : []),
    ...(sysfsNodes.has(node) ? [`sysfs apex/${node}`] : []),
  ];

  const modules = scan.pci.filter((f) => `${f.vendor}:${f.device}` === CORAL_PCI_ID);
  modules.forEach((f, i) => {
    const node = nodes[i];
    found.push({
      kind: 'coral-pcie',
      device: node === undefined ? `pci:${f.address}` : `/dev/${node}`,
      source: [`pci-id ${CORAL_PCI_ID}`, ...(node === undefined ? [] : evidenceFor(node))].join(' + '),
      pciId: CORAL_PCI_ID,
      busLocation: f.address,
    });
  });
  // Apex nodes beyond the PCI functions seen (sysfs PCI tree unreadable): still a Coral.
  for (const node of nodes.slice(modules.length)) found.push({ kind: 'coral-pcie', device: `/dev/${node}`, source: evidenceFor(node).join(' + ') });

  for (const d of scan.usb) {
    const id = `${d.vendor}:${d.product}`;
    const source = CORAL_USB_IDS[id];
    if (source !== undefined) found.push({ kind: 'coral-usb', device: `usb:${id}`, source, busLocation: d.port });
  }
  return found;
}
