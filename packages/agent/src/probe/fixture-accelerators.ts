import { addDevNode, addPciFunction, addUsbDevice, type FixtureTree } from './fixture-tree.js';
import { HAILO_IDENTIFY_CACHE_PATH } from './hailo-identify.js';

/**
 * Accelerators as they appear on a Pi 5 (the HAT's PCIe link is domain 0001, bus 01).
 * Identify caches follow HARDWARE.md: the Hailo-8L block is the documented HailoRT 4.23
 * output verbatim; the others are written in the same shape with their own values (4.x
 * prints `<N/A>` for empty fields, 5.x leaves them out).
 */

const HAT_ADDRESS = '0001:01:00.0';

/** How a Hailo device is set up on a fixture node. */
export interface HailoSetup {
  /** PCI device id: `2864` (Hailo-8/8L) or `45c4` (Hailo-10H). */
  pciDevice: '2864' | '45c4';
  /** `hailo_pci` gives `/dev/hailo0` and a `hailo_chardev` sysfs entry; `hailo1x_pci` gives `/dev/h1x-0`. */
  driver: 'hailo_pci' | 'hailo1x_pci';
  /** Cached `hailortcli fw-control identify` output; absent where HailoRT is not installed. */
  identify?: string;
}

/** Adds a Hailo module on the HAT connector. */
export function addHailo(tree: FixtureTree, setup: HailoSetup): void {
  addPciFunction(tree, HAT_ADDRESS, '1e60', setup.pciDevice);
  if (setup.driver === 'hailo_pci') {
    // The driver prints these with sprintf and no newline; accelerator_type is an enum (0 = NNC).
    tree.set('sys/class/hailo_chardev/hailo0/board_location', HAT_ADDRESS);
    tree.set('sys/class/hailo_chardev/hailo0/device_id', `1e60:${setup.pciDevice}`);
    tree.set('sys/class/hailo_chardev/hailo0/accelerator_type', '0');
    addDevNode(tree, 'hailo0');
  } else {
    addDevNode(tree, 'h1x-0');
  }
  if (setup.identify !== undefined) tree.set(HAILO_IDENTIFY_CACHE_PATH, setup.identify);
}

/** Adds a Coral Edge TPU M.2/PCIe module with the gasket/apex driver loaded. */
export function addCoralPcie(tree: FixtureTree): void {
  addPciFunction(tree, HAT_ADDRESS, '1ac1', '089a');
  addDevNode(tree, 'apex_0');
  tree.set('sys/class/apex/apex_0/temp', '45300\n');
}

/** Adds a Coral USB Accelerator on a USB 3 port, after its firmware has loaded (`18d1:9302`). */
export function addCoralUsb(tree: FixtureTree): void {
  addUsbDevice(tree, '2-1', '18d1', '9302');
  // The interface directory has no idVendor; the probe must skip it.
  tree.set('sys/bus/usb/devices/2-1:1.0/bInterfaceClass', 'ff\n');
}

/** Identify output of an AI HAT+ 13T, HailoRT 4.23 (HARDWARE.md). */
export const IDENTIFY_HAILO8L = `Executing on device: ${HAT_ADDRESS}
Identifying board
Control Protocol Version: 2
Firmware Version: 4.23.0 (release,app,extended context switch buffer)
Logger Version: 0
Board Name: Hailo-8
Device Architecture: HAILO8L
Serial Number: HLDDLBB243303522
Part Number: HM21LB1C2LAE
Product Name: HAILO-8L AI ACC M.2 B+M KEY MODULE EXT TMP
`;

/** Identify output of an AI HAT+ 26T, HailoRT 4.23. */
export const IDENTIFY_HAILO8 = `Executing on device: ${HAT_ADDRESS}
Identifying board
Control Protocol Version: 2
Firmware Version: 4.23.0 (release,app,extended context switch buffer)
Logger Version: 0
Board Name: Hailo-8
Device Architecture: HAILO8
Serial Number: HLLWM2B233701148
Part Number: HM218B1C2FAE
Product Name: HAILO-8 AI ACC M.2 M KEY MODULE EXT TEMP
`;

/** Identify output of an AI HAT+ 2 with HailoRT 5.3, which omits the empty fields. */
export const IDENTIFY_HAILO10H = `Executing on device: ${HAT_ADDRESS}
Identifying board
Control Protocol Version: 2
Firmware Version: 5.3.0 (release,app)
Logger Version: 0
Device Architecture: HAILO10H
`;

/** Identify output of a Hailo-10H under an older HailoRT 4.x, which prints `<N/A>`. */
export const IDENTIFY_HAILO10H_LEGACY = `Executing on device: ${HAT_ADDRESS}
Identifying board
Control Protocol Version: 2
Firmware Version: 4.20.1 (release,app)
Logger Version: 0
Board Name: <N/A>
Device Architecture: HAILO10H
Serial Number: <N/A>
Part Number: <N/A>
Product Name: <N/A>
`;
