/**
 * `@edgefleet/agent/k8s`: the Kubernetes side of a node that runs k3s: the accelerator
 * device plugin (kubelet device plugin API v1beta1 over gRPC). Its own entry, so agents
 * that run without `--device-plugin` never load gRPC. The NFD feature file writer is in the
 * agent's root entry (`NfdFeatureWriter`, `nfdLabelName`): it needs no gRPC.
 */
export {
  type AllocateResponse,
  type ContainerAllocateResponse,
  DEFAULT_DEVICE_PLUGIN_DIR,
  DEVICE_PLUGIN_API_VERSION,
  type Device,
  type DevicePluginApi,
  type DevicePluginOptions,
  devicePluginApi,
  HEALTHY,
  KUBELET_SOCKET,
  type ListAndWatchResponse,
  type PreferredAllocationResponse,
  type RegisterRequest,
  UNHEALTHY,
  unixTarget,
} from './device-plugin/api.js';
export { DEVICE_PLUGIN_API_PROTO } from './device-plugin/api-proto.js';
export { AcceleratorDevicePlugin, type AcceleratorDevicePluginOptions, DEFAULT_DEVICE_PLUGIN_POLL_MS } from './device-plugin/device-plugin.js';
export { containerAllocation, type PluginDevice, pluginDeviceOf, RESOURCE_DOMAIN, resourceNameOf, socketNameOf } from './device-plugin/devices.js';
export { PLUGIN_OPTIONS, ResourcePlugin } from './device-plugin/plugin.js';
