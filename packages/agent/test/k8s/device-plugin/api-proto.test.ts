import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { devicePluginApi } from '../../../src/k8s/device-plugin/api.js';
import { DEVICE_PLUGIN_API_PROTO } from '../../../src/k8s/device-plugin/api-proto.js';

const PROTO_FILE = fileURLToPath(new URL('../../../proto/deviceplugin/v1beta1/api.proto', import.meta.url));

describe('the device plugin API proto', () => {
  it('is the checked-in api.proto, character for character', () => {
    expect(DEVICE_PLUGIN_API_PROTO).toBe(readFileSync(PROTO_FILE, 'utf8'));
  });

  it('names its upstream source and commit', () => {
    expect(DEVICE_PLUGIN_API_PROTO).toContain('staging/src/k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/api.proto');
    expect(DEVICE_PLUGIN_API_PROTO).toMatch(/commit [0-9a-f]{40}/);
  });

  it('gives the two services with the kubelet paths and the upstream field names', () => {
    const api = devicePluginApi();
    expect(Object.values(api.registration).map((m) => m.path)).toEqual(['/v1beta1.Registration/Register']);
    expect(Object.values(api.devicePlugin).map((m) => m.path)).toEqual([
      '/v1beta1.DevicePlugin/GetDevicePluginOptions',
      '/v1beta1.DevicePlugin/ListAndWatch',
      '/v1beta1.DevicePlugin/GetPreferredAllocation',
      '/v1beta1.DevicePlugin/Allocate',
      '/v1beta1.DevicePlugin/PreStartContainer',
    ]);
    expect(api.devicePlugin.ListAndWatch?.responseStream).toBe(true);
    // keepCase: the bytes carry field numbers, but the objects our code builds use these names.
    const register = api.registration.Register;
    const bytes = register?.requestSerialize({
      version: 'v1beta1',
      endpoint: 'e.sock',
      resource_name: 'edgefleet.dev/hailo8l',
      options: { pre_start_required: false, get_preferred_allocation_available: true },
    });
    expect(register?.requestDeserialize(bytes as Buffer)).toEqual({
      version: 'v1beta1',
      endpoint: 'e.sock',
      resource_name: 'edgefleet.dev/hailo8l',
      options: { pre_start_required: false, get_preferred_allocation_available: true },
    });
    // RegisterRequest.resource_name is field 3, a string: tag (3 << 3 | 2) = 0x1a.
    expect((bytes as Buffer).includes(Buffer.from([0x1a, 'edgefleet.dev/hailo8l'.length]))).toBe(true);
  });
});
