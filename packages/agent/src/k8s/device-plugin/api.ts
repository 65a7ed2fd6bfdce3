import * as grpc from '@grpc/grpc-js';
import { fromJSON } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { DEVICE_PLUGIN_API_PROTO } from './api-proto.js';

/**
 * The kubelet device plugin API v1beta1 as grpc-js service definitions, with the message
 * shapes as TypeScript types. Field names are the proto's own (`keepCase`), so what is
 * written here is what the kubelet reads: `resource_name`, `devices_ids`, `ID`.
 */

/** The API version a plugin registers with; the kubelet refuses others. */
export const DEVICE_PLUGIN_API_VERSION = 'v1beta1';
/** The kubelet's registration socket in the device plugin folder. */
export const KUBELET_SOCKET = 'kubelet.sock';
/** Where the kubelet looks for device plugin sockets. */
export const DEFAULT_DEVICE_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
/** Device health values of the API (kubelet's constants.go). */
export const HEALTHY = 'Healthy';
export const UNHEALTHY = 'Unhealthy';

export type Empty = Record<string, never>;
export interface DevicePluginOptions {
  pre_start_required: boolean;
  get_preferred_allocation_available: boolean;
}
export interface RegisterRequest {
  version: string;
  endpoint: string;
  resource_name: string;
  options: DevicePluginOptions | null;
}
export interface Device {
  ID: string;
  health: typeof HEALTHY | typeof UNHEALTHY | string;
  topology?: { nodes: { ID: string }[] } | null;
}
export interface ListAndWatchResponse {
  devices: Device[];
}
export interface DeviceSpec {
  container_path: string;
  host_path: string;
  permissions: string;
}
export interface Mount {
  container_path: string;
  host_path: string;
  read_only: boolean;
}
export interface ContainerAllocateResponse {
  envs: Record<string, string>;
  mounts: Mount[];
  devices: DeviceSpec[];
  annotations: Record<string, string>;
  cdi_devices: { name: string }[];
}
export interface AllocateRequest {
  container_requests: { devices_ids: string[] }[];
}
export interface AllocateResponse {
  container_responses: ContainerAllocateResponse[];
}
export interface ContainerPreferredAllocationRequest {
  available_deviceIDs: string[];
  must_include_deviceIDs: string[];
  allocation_size: number;
}
export interface PreferredAllocationRequest {
  container_requests: ContainerPreferredAllocationRequest[];
}
export interface PreferredAllocationResponse {
  container_responses: { deviceIDs: string[] }[];
}
export interface PreStartContainerRequest {
  devices_ids: string[];
}

/** The two services of the API and a client constructor for each. */
export interface DevicePluginApi {
  devicePlugin: grpc.ServiceDefinition;
  registration: grpc.ServiceDefinition;
  DevicePluginClient: grpc.ServiceClientConstructor;
  RegistrationClient: grpc.ServiceClientConstructor;
}

let loaded: DevicePluginApi | undefined;

/** The API, parsed once from the checked-in proto text on first use. */
export function devicePluginApi(): DevicePluginApi {
  if (loaded !== undefined) return loaded;
  const root = protobuf.parse(DEVICE_PLUGIN_API_PROTO, { keepCase: true }).root;
  const definition = fromJSON(root.toJSON(), { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(definition).v1beta1 as grpc.GrpcObject;
  const DevicePluginClient = pkg.DevicePlugin as grpc.ServiceClientConstructor;
  const RegistrationClient = pkg.Registration as grpc.ServiceClientConstructor;
  loaded = { devicePlugin: DevicePluginClient.service, registration: RegistrationClient.service, DevicePluginClient, RegistrationClient };
  return loaded;
}

/** The grpc target of a unix socket path (`unix:///var/lib/kubelet/device-plugins/kubelet.sock`). */
export function unixTarget(socketPath: string): string {
  return `unix://${socketPath}`;
}
