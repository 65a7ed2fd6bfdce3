import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type AllocateResponse,
  DEVICE_PLUGIN_API_VERSION,
  type Device,
  type DevicePluginOptions,
  devicePluginApi,
  KUBELET_SOCKET,
  type ListAndWatchResponse,
  type PreferredAllocationResponse,
  type RegisterRequest,
  unixTarget,
} from '@edgefleet/agent/k8s';
import * as grpc from '@grpc/grpc-js';

/**
 * The kubelet's side of the device plugin API v1beta1, for tests (no kubelet or k3s here).
 * It speaks the same proto as the plugin (`@edgefleet/agent/k8s` parses the checked-in
 * api.proto) and does what the kubelet's device manager does:
 * - serves `Registration` on `kubelet.sock` in its folder, refusing another API version or a
 *   resource name that is not an extended resource (`domain/name`, not `kubernetes.io`);
 * - after a registration, dials the plugin's socket in the same folder, calls
 *   `GetDevicePluginOptions`, then keeps a `ListAndWatch` stream open and records every list;
 * - on {@link restart}, stops, removes kubelet.sock and every plugin socket in the folder (as
 *   a restarting kubelet does) and serves a new kubelet.sock.
 */
export class KubeletHarness {
  /** Every accepted registration, in order. */
  readonly registrations: RegisterRequest[] = [];
  /** While set, every Register is refused with this message (a resource name taken by another plugin). */
  refusal: string | undefined;
  private server: grpc.Server | undefined;
  private readonly plugins = new Map<
    string,
    { client: grpc.Client; options: DevicePluginOptions | undefined; lists: Device[][]; stream: grpc.ClientReadableStream<ListAndWatchResponse> | undefined }
  >();
  private readonly waiters = new Set<() => void>();

  constructor(readonly dir: string) {}

  /** Serves kubelet.sock (the folder is created when missing). */
  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const server = new grpc.Server();
    server.addService(devicePluginApi().registration, {
      Register: (call: grpc.ServerUnaryCall<RegisterRequest, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        const problem = this.refusal ?? registrationProblem(call.request);
        if (problem !== undefined) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: problem, name: 'RegisterError', message: problem, metadata: new grpc.Metadata() });
          return;
        }
        this.registrations.push(call.request);
        cb(null, {});
        // The kubelet answers first, then connects to the plugin (devicemanager/plugin/v1beta1).
        void this.connect(call.request);
      },
    });
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(unixTarget(join(this.dir, KUBELET_SOCKET)), grpc.ServerCredentials.createInsecure(), (err) => (err === null ? resolve() : reject(err))),
    );
    this.server = server;
  }

  private async connect(req: RegisterRequest): Promise<void> {
    this.plugins.get(req.resource_name)?.stream?.cancel();
    this.plugins.get(req.resource_name)?.client.close();
    const { DevicePluginClient } = devicePluginApi();
    const client = new DevicePluginClient(unixTarget(join(this.dir, req.endpoint)), grpc.credentials.createInsecure());
    const entry = {
      client,
      options: undefined as DevicePluginOptions | undefined,
      lists: [] as Device[][],
      stream: undefined as grpc.ClientReadableStream<ListAndWatchResponse> | undefined,
    };
    this.plugins.set(req.resource_name, entry);
    entry.options = await unary<DevicePluginOptions>(client, 'GetDevicePluginOptions', {});
    const stream = (client.ListAndWatch as (req: object) => grpc.ClientReadableStream<ListAndWatchResponse>).call(client, {});
    entry.stream = stream;
    stream.on('data', (res: ListAndWatchResponse) => {
      entry.lists.push(res.devices);
      this.notify();
    });
    // The stream ends when the plugin stops or its socket goes; the kubelet then waits for a new registration.
    stream.on('error', () => {});
    this.notify();
  }

  private notify(): void {
    for (const w of this.waiters) w();
  }

  /** Resolves when `check` holds, checked after every registration and list; rejects after `timeoutMs`. */
  async until<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    const first = check();
    if (first !== undefined && first !== false) return first;
    return new Promise<T>((resolve, reject) => {
      const waiter = (): void => {
        const value = check();
        if (value === undefined || value === false) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`kubelet harness: timed out waiting for ${what}; registrations: ${JSON.stringify(this.registrations.map((r) => r.resource_name))}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** The options a resource's plugin answered GetDevicePluginOptions with. */
  options(resource: string): DevicePluginOptions | undefined {
    return this.plugins.get(resource)?.options;
  }

  /** The last device list a resource's plugin streamed, or undefined before its first. */
  devices(resource: string): Device[] | undefined {
    return this.plugins.get(resource)?.lists.at(-1);
  }

  /** Waits until a resource's last list satisfies `check`. */
  untilDevices(resource: string, check: (devices: Device[]) => boolean, timeoutMs?: number): Promise<Device[]> {
    return this.until(
      `devices of ${resource} to match`,
      () => {
        const devices = this.devices(resource);
        return devices !== undefined && check(devices) ? devices : undefined;
      },
      timeoutMs,
    );
  }

  /** Calls Allocate on a resource's plugin for one container, as the kubelet does when a pod starts. */
  allocate(resource: string, deviceIds: string[]): Promise<AllocateResponse> {
    return unary<AllocateResponse>(this.client(resource), 'Allocate', { container_requests: [{ devices_ids: deviceIds }] });
  }

  /** Calls GetPreferredAllocation on a resource's plugin for one container. */
  preferredAllocation(resource: string, available: string[], mustInclude: string[], size: number): Promise<PreferredAllocationResponse> {
    return unary<PreferredAllocationResponse>(this.client(resource), 'GetPreferredAllocation', {
      container_requests: [{ available_deviceIDs: available, must_include_deviceIDs: mustInclude, allocation_size: size }],
    });
  }

  private client(resource: string): grpc.Client {
    const entry = this.plugins.get(resource);
    if (entry === undefined) throw new Error(`kubelet harness: ${resource} never registered`);
    return entry.client;
  }

  /** Stops like a kubelet going down: streams cancelled, kubelet.sock removed. */
  async stop(): Promise<void> {
    for (const p of this.plugins.values()) {
      p.stream?.cancel();
      p.client.close();
    }
    this.plugins.clear();
    this.server?.forceShutdown();
    this.server = undefined;
    await rm(join(this.dir, KUBELET_SOCKET), { force: true });
  }

  /**
   * A kubelet restart: stop, delete every socket in the folder (the kubelet wipes the
   * plugins'), serve a new kubelet.sock. `wipePluginSockets: false` leaves the plugins'
   * sockets, so only the new kubelet.sock can tell the plugin to register again.
   */
  async restart(opts: { wipePluginSockets?: boolean } = {}): Promise<void> {
    await this.stop();
    if (opts.wipePluginSockets !== false)
      for (const name of await readdir(this.dir)) if (name.endsWith('.sock')) await rm(join(this.dir, name), { force: true });
    await this.start();
  }
}

/** Why the kubelet would refuse a registration, or undefined. */
function registrationProblem(req: RegisterRequest): string | undefined {
  if (req.version !== DEVICE_PLUGIN_API_VERSION) return `unsupported device plugin API version "${req.version}"`;
  const slash = req.resource_name.indexOf('/');
  const domain = req.resource_name.slice(0, slash);
  if (
    slash <= 0 ||
    !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(domain) ||
    !/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(req.resource_name.slice(slash + 1))
  ) {
    return `invalid extended resource name "${req.resource_name}"`;
  }
  if (domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io')) return `resource name "${req.resource_name}" is in a kubernetes.io domain`;
  if (req.endpoint === '' || req.endpoint.includes('/')) return `endpoint "${req.endpoint}" is not a socket file name`;
  return undefined;
}

function unary<T>(client: grpc.Client, method: string, req: object): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: T) => void) => void>)[
      method
    ];
    if (fn === undefined) {
      reject(new Error(`no method ${method}`));
      return;
    }
    fn.call(client, req, { deadline: Date.now() + 5_000 }, (err, res) => (err === null ? resolve(res) : reject(err)));
  });
}
