import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AcceleratorKind } from '@edgefleet/protocol';
import * as grpc from '@grpc/grpc-js';
import {
  type AllocateRequest,
  type AllocateResponse,
  DEVICE_PLUGIN_API_VERSION,
  type DevicePluginOptions,
  devicePluginApi,
  type Empty,
  KUBELET_SOCKET,
  type ListAndWatchResponse,
  type PreferredAllocationRequest,
  type PreferredAllocationResponse,
  type RegisterRequest,
  unixTarget,
} from './api.js';
import { containerAllocation, type DeviceHealth, deviceList, preferredDevices, resourceNameOf, socketNameOf } from './devices.js';

/** What the plugin tells the kubelet it implements: preferred allocation yes, a pre-start hook no. */
export const PLUGIN_OPTIONS: DevicePluginOptions = { pre_start_required: false, get_preferred_allocation_available: true };

/** How long a Register call may take before it counts as failed (and is tried again). */
const REGISTER_TIMEOUT_MS = 5_000;

/**
 * One extended resource (`edgefleet.dev/hailo8l`): the DevicePlugin gRPC service on its own
 * socket in the device plugin folder and its registration with the kubelet. The device
 * list comes from outside ({@link update}); every ListAndWatch stream gets the whole list
 * again whenever it changes. {@link serve} makes a fresh server each time, because after a
 * kubelet restart the old socket file is gone and a grpc-js server cannot bind again.
 */
export class ResourcePlugin {
  readonly resourceName: string;
  readonly socketName: string;
  private devices: DeviceHealth[] = [];
  private listed = '';
  private server: grpc.Server | undefined;
  private readonly watchers = new Set<grpc.ServerWritableStream<Empty, ListAndWatchResponse>>();

  constructor(
    readonly kind: AcceleratorKind,
    private readonly dir: string,
  ) {
    this.resourceName = resourceNameOf(kind);
    this.socketName = socketNameOf(kind);
  }

  /** The plugin's socket path. */
  get socketPath(): string {
    return join(this.dir, this.socketName);
  }

  /** Sets the devices and their health; open ListAndWatch streams get the new list when it differs. */
  update(devices: readonly DeviceHealth[]): void {
    this.devices = [...devices];
    const list = this.list();
    const text = JSON.stringify(list);
    if (text === this.listed) return;
    this.listed = text;
    for (const call of this.watchers) call.write(list);
  }

  private list(): ListAndWatchResponse {
    return { devices: deviceList(this.devices) };
  }

  /** Starts (or restarts) the gRPC server on a new socket file. */
  async serve(): Promise<void> {
    await this.close();
    // A socket file left by an earlier run would make the bind fail with EADDRINUSE.
    await rm(this.socketPath, { force: true });
    const server = new grpc.Server();
    server.addService(devicePluginApi().devicePlugin, this.handlers());
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(unixTarget(this.socketPath), grpc.ServerCredentials.createInsecure(), (err) => (err === null ? resolve() : reject(err))),
    );
    this.server = server;
  }

  /** Registers the resource with the kubelet on its kubelet.sock; rejects when refused or unreachable. */
  async register(): Promise<void> {
    const { RegistrationClient } = devicePluginApi();
    const client = new RegistrationClient(unixTarget(join(this.dir, KUBELET_SOCKET)), grpc.credentials.createInsecure());
    const request: RegisterRequest = {
      version: DEVICE_PLUGIN_API_VERSION,
      endpoint: this.socketName,
      resource_name: this.resourceName,
      options: PLUGIN_OPTIONS,
    };
    try {
      await new Promise<void>((resolve, reject) => {
        const register = client.Register as (req: RegisterRequest, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void;
        register.call(client, request, { deadline: Date.now() + REGISTER_TIMEOUT_MS }, (err) => (err === null ? resolve() : reject(err)));
      });
    } finally {
      client.close();
    }
  }

  /** Ends the streams and stops the server; the socket file goes with it. */
  async close(): Promise<void> {
    for (const call of this.watchers) call.end();
    this.watchers.clear();
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.forceShutdown();
    await rm(this.socketPath, { force: true }).catch(() => {});
  }

  private handlers(): grpc.UntypedServiceImplementation {
    return {
      GetDevicePluginOptions: (_call: grpc.ServerUnaryCall<Empty, DevicePluginOptions>, cb: grpc.sendUnaryData<DevicePluginOptions>) =>
        cb(null, PLUGIN_OPTIONS),
      ListAndWatch: (call: grpc.ServerWritableStream<Empty, ListAndWatchResponse>) => {
        this.watchers.add(call);
        call.on('cancelled', () => this.watchers.delete(call));
        call.on('close', () => this.watchers.delete(call));
        call.write(this.list());
      },
      GetPreferredAllocation: (
        call: grpc.ServerUnaryCall<PreferredAllocationRequest, PreferredAllocationResponse>,
        cb: grpc.sendUnaryData<PreferredAllocationResponse>,
      ) => cb(null, { container_responses: call.request.container_requests.map((r) => ({ deviceIDs: preferredDevices(r) })) }),
      Allocate: (call: grpc.ServerUnaryCall<AllocateRequest, AllocateResponse>, cb: grpc.sendUnaryData<AllocateResponse>) => {
        try {
          cb(null, this.allocate(call.request));
        } catch (err) {
          cb({
            code: grpc.status.INVALID_ARGUMENT,
            details: (err as Error).message,
            name: 'AllocateError',
            message: (err as Error).message,
            metadata: new grpc.Metadata(),
          });
        }
      },
      PreStartContainer: (_call: grpc.ServerUnaryCall<unknown, Empty>, cb: grpc.sendUnaryData<Empty>) => cb(null, {}),
    };
  }

  /**
   * Allocate: each container's device IDs must be devices of this resource. An unknown ID
   * is refused (the kubelet asked for something this plugin never advertised); so is an
   * unhealthy one, which the kubelet should not have picked: the pod fails to start rather
   * than run without its accelerator.
   */
  allocate(req: AllocateRequest): AllocateResponse {
    return {
      container_responses: req.container_requests.map((c) => {
        const given = c.devices_ids.map((id) => {
          const known = this.devices.find((d) => d.device.id === id);
          if (known === undefined)
            throw new Error(`${this.resourceName}: no device "${id}" (known: ${this.devices.map((d) => d.device.id).join(', ') || 'none'})`);
          if (!known.healthy) throw new Error(`${this.resourceName}: device "${id}" is unhealthy (its device node ${known.device.hostPath} is missing)`);
          return known.device;
        });
        return containerAllocation(given);
      }),
    };
  }
}
