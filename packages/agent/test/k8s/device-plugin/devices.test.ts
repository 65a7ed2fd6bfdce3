import type { Accelerator } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { containerAllocation, deviceList, pluginDeviceOf, preferredDevices, resourceNameOf, socketNameOf } from '../../../src/k8s/device-plugin/devices.js';
import { ResourcePlugin } from '../../../src/k8s/device-plugin/plugin.js';

const hailo = (device: string): Accelerator => ({ kind: 'hailo8l', device, source: 'test', busLocation: '0001:01:00.0' });

describe('what the device plugin advertises', () => {
  it('names one resource and socket per kind', () => {
    expect(resourceNameOf('hailo8l')).toBe('edgefleet.dev/hailo8l');
    expect(resourceNameOf('coral-usb')).toBe('edgefleet.dev/coral-usb');
    expect(socketNameOf('hailo10h')).toBe('edgefleet-hailo10h.sock');
  });

  it.each([
    ['a Hailo node', hailo('/dev/hailo0'), { id: 'hailo0', kind: 'hailo8l', hostPath: '/dev/hailo0', presencePath: '/dev/hailo0' }],
    [
      'a Hailo-10H node',
      { kind: 'hailo10h', device: '/dev/h1x-0', source: 't' } as Accelerator,
      { id: 'h1x-0', kind: 'hailo10h', hostPath: '/dev/h1x-0', presencePath: '/dev/h1x-0' },
    ],
    [
      'a Coral PCIe node',
      { kind: 'coral-pcie', device: '/dev/apex_0', source: 't' } as Accelerator,
      { id: 'apex_0', kind: 'coral-pcie', hostPath: '/dev/apex_0', presencePath: '/dev/apex_0' },
    ],
    [
      'a Coral USB stick: the whole USB folder, present while probed',
      { kind: 'coral-usb', device: 'usb:18d1:9302', source: 't', busLocation: '2-1' } as Accelerator,
      { id: 'usb-2-1', kind: 'coral-usb', hostPath: '/dev/bus/usb', presencePath: null },
    ],
    ['a PCI function without its node: nothing to give yet', hailo('pci:0001:01:00.0'), undefined],
  ])('%s', (_name, accelerator, expected) => {
    expect(pluginDeviceOf(accelerator)).toEqual(expected);
  });

  it('lists devices sorted by ID with their health', () => {
    const d = (id: string) => ({ id, kind: 'hailo8l' as const, hostPath: `/dev/${id}`, presencePath: `/dev/${id}` });
    expect(
      deviceList([
        { device: d('hailo1'), healthy: false },
        { device: d('hailo0'), healthy: true },
      ]),
    ).toEqual([
      { ID: 'hailo0', health: 'Healthy' },
      { ID: 'hailo1', health: 'Unhealthy' },
    ]);
  });

  it('gives a container its device nodes read-write and says which accelerator it got', () => {
    const a = pluginDeviceOf(hailo('/dev/hailo1'));
    const b = pluginDeviceOf(hailo('/dev/hailo0'));
    if (a === undefined || b === undefined) throw new Error('unreachable');
    expect(containerAllocation([a, b])).toEqual({
      envs: { EDGEFLEET_ACCELERATOR: 'hailo8l', EDGEFLEET_ACCELERATOR_DEVICES: '/dev/hailo0,/dev/hailo1' },
      mounts: [],
      devices: [
        { container_path: '/dev/hailo0', host_path: '/dev/hailo0', permissions: 'rw' },
        { container_path: '/dev/hailo1', host_path: '/dev/hailo1', permissions: 'rw' },
      ],
      annotations: {},
      cdi_devices: [],
    });
  });

  it.each([
    ['the lowest IDs first', { available_deviceIDs: ['hailo2', 'hailo0', 'hailo1'], must_include_deviceIDs: [], allocation_size: 2 }, ['hailo0', 'hailo1']],
    [
      'what must be included, then the rest',
      { available_deviceIDs: ['hailo0', 'hailo1', 'hailo2'], must_include_deviceIDs: ['hailo2'], allocation_size: 2 },
      ['hailo2', 'hailo0'],
    ],
    ['never an unavailable device', { available_deviceIDs: ['hailo1'], must_include_deviceIDs: ['hailo9'], allocation_size: 1 }, ['hailo1']],
    ['no more than there are', { available_deviceIDs: ['hailo0'], must_include_deviceIDs: [], allocation_size: 3 }, ['hailo0']],
  ])('prefers %s', (_name, req, expected) => {
    expect(preferredDevices(req)).toEqual(expected);
  });
});

describe('Allocate', () => {
  const plugin = new ResourcePlugin('hailo8l', '/nonexistent');
  const hailo0 = pluginDeviceOf(hailo('/dev/hailo0'));
  const hailo1 = pluginDeviceOf(hailo('/dev/hailo1'));
  if (hailo0 === undefined || hailo1 === undefined) throw new Error('unreachable');
  plugin.update([
    { device: hailo0, healthy: true },
    { device: hailo1, healthy: false },
  ]);

  it('answers each container with its devices', () => {
    const res = plugin.allocate({ container_requests: [{ devices_ids: ['hailo0'] }, { devices_ids: [] }] });
    expect(res.container_responses.map((c) => c.devices.map((d) => d.host_path))).toEqual([['/dev/hailo0'], []]);
  });

  it('refuses an unknown device, naming the known ones', () => {
    expect(() => plugin.allocate({ container_requests: [{ devices_ids: ['apex_0'] }] })).toThrow(
      'edgefleet.dev/hailo8l: no device "apex_0" (known: hailo0, hailo1)',
    );
  });

  it('refuses an unhealthy device rather than start a pod without it', () => {
    expect(() => plugin.allocate({ container_requests: [{ devices_ids: ['hailo1'] }] })).toThrow(/"hailo1" is unhealthy/);
  });
});
