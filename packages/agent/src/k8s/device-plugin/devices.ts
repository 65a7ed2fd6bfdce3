import type { Accelerator, AcceleratorKind } from '@edgefleet/protocol';
import { type ContainerAllocateResponse, type ContainerPreferredAllocationRequest, type Device, type DeviceSpec, HEALTHY, UNHEALTHY } from './api.js';

/**
 * What the device plugin advertises, as data: one extended resource per accelerator kind
 * (`edgefleet.dev/hailo8l`), one device per accelerator, and what a container that is given
 * some of them needs. Pure; plugin.ts and device-plugin.ts do the I/O.
 */

/** The domain of the extended resources; a pod asks for `edgefleet.dev/<kind>: 1`. */
export const RESOURCE_DOMAIN = 'edgefleet.dev';

/** The extended resource name of an accelerator kind. */
export function resourceNameOf(kind: AcceleratorKind): string {
  return `${RESOURCE_DOMAIN}/${kind}`;
}

/** The plugin's socket file name for a kind, in the device plugin folder. */
export function socketNameOf(kind: AcceleratorKind): string {
  return `edgefleet-${kind}.sock`;
}

/**
 * A Coral USB Accelerator re-enumerates on the bus when its firmware loads (new device
 * number, new `/dev/bus/usb/BBB/DDD` node), so a container gets the whole USB folder.
 */
const USB_BUS_PATH = '/dev/bus/usb';

/** One device the plugin knows: its ID for the kubelet, its kind and the host path a container gets. */
export interface PluginDevice {
  /** Stable across health changes: the device node's name (`hailo0`, `apex_0`), `usb-<port>` for a USB stick. */
  id: string;
  kind: AcceleratorKind;
  /** The host path given to the container (`/dev/hailo0`, `/dev/bus/usb`). */
  hostPath: string;
  /** The path whose presence under the hardware root means the device is there (`/dev/hailo0`); null: present while probed. */
  presencePath: string | null;
}

/**
 * The device an accelerator from the probe is advertised as, or undefined when it cannot be
 * handed to a container yet: a PCI function without its device node (driver not loaded)
 * has nothing to give; it is advertised once the node appears.
 */
export function pluginDeviceOf(a: Accelerator): PluginDevice | undefined {
  if (a.kind === 'coral-usb') {
    const port = (a.busLocation ?? a.device).replace(/[^A-Za-z0-9._-]/g, '-');
    return { id: `usb-${port}`, kind: a.kind, hostPath: USB_BUS_PATH, presencePath: null };
  }
  if (!a.device.startsWith('/dev/')) return undefined;
  return { id: a.device.slice('/dev/'.length).replace(/\//g, '-'), kind: a.kind, hostPath: a.device, presencePath: a.device };
}

/** A device with its current health, as ListAndWatch reports it. */
export interface DeviceHealth {
  device: PluginDevice;
  healthy: boolean;
}

/** The ListAndWatch list of one resource: every device ever seen, sorted by ID, with its health. */
export function deviceList(devices: readonly DeviceHealth[]): Device[] {
  return [...devices]
    .sort((a, b) => (a.device.id < b.device.id ? -1 : a.device.id > b.device.id ? 1 : 0))
    .map((d) => ({ ID: d.device.id, health: d.healthy ? HEALTHY : UNHEALTHY }));
}

/**
 * What a container given `devices` (all of one kind) needs, per vendor runtime:
 * - Hailo (HailoRT): the `/dev/hailoN` (or `/dev/h1x-N`) nodes, read-write. HailoRT scans
 *   `/dev` for them; its library (libhailort, the same version as the host's hailo_pci
 *   driver) comes with the image, and the firmware is loaded by the host's driver, so no
 *   host folder is mounted.
 * - Coral PCIe (libedgetpu): `/dev/apex_N`, read-write.
 * - Coral USB (libedgetpu over libusb): the `/dev/bus/usb` folder (see USB_BUS_PATH).
 * Every container also learns what it was given through `EDGEFLEET_ACCELERATOR` (the kind)
 * and `EDGEFLEET_ACCELERATOR_DEVICES` (the host paths, comma-separated).
 */
export function containerAllocation(devices: readonly PluginDevice[]): ContainerAllocateResponse {
  const paths = [...new Set(devices.map((d) => d.hostPath))].sort();
  const specs: DeviceSpec[] = paths.map((p) => ({ container_path: p, host_path: p, permissions: 'rw' }));
  const kind = devices[0]?.kind;
  return {
    envs: {
      ...(kind === undefined ? {} : { EDGEFLEET_ACCELERATOR: kind }),
      EDGEFLEET_ACCELERATOR_DEVICES: paths.join(','),
    },
    mounts: [],
    devices: specs,
    annotations: {},
    cdi_devices: [],
  };
}

/**
 * GetPreferredAllocation for one container: the devices it must have, then the healthy
 * available ones in ID order (so a pod asking for one Hailo gets `hailo0` first), up to
 * the size asked for. IDs not in `available_deviceIDs` are never offered.
 */
export function preferredDevices(req: ContainerPreferredAllocationRequest): string[] {
  const available = new Set(req.available_deviceIDs);
  const chosen = req.must_include_deviceIDs.filter((id) => available.has(id));
  for (const id of [...available].sort()) {
    if (chosen.length >= req.allocation_size) break;
    if (!chosen.includes(id)) chosen.push(id);
  }
  return chosen.slice(0, Math.max(req.allocation_size, req.must_include_deviceIDs.length));
}
