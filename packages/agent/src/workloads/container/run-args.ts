import { parseCpu, parseMemory, type Resources } from '@edgefleet/protocol';

/**
 * How a release's container is run: the `podman run` arguments, built from data only, so the
 * isolation every container gets is one table-tested function (docs/SECURITY.md, "Containers").
 */

/** A device node passed through: where it is on the host (under the agent's `--hw-root`) and in the container. */
export interface DeviceMapping {
  host: string;
  container: string;
}

/** Everything `podman run` needs for one container instance. */
export interface ContainerLaunch {
  /** The engine's image id (the config digest's hex): the image the agent imported, never a name to pull. */
  imageId: string;
  /** The reference as released, for labels and logs. */
  reference: string;
  /** The container's name: unique per instance, so a replaced instance never collides with its successor. */
  name: string;
  /** Labels that let the agent find its own containers after a crash (see {@link containerLabels}). */
  labels: Record<string, string>;
  /** The port inside the container that serves the Open Inference Protocol. */
  containerPort: number;
  /** The loopback port on the host it is published on (the instance port the supervisor picked). */
  hostPort: number;
  /** Overrides the image's entrypoint and command. */
  command: string | undefined;
  args: string[] | undefined;
  env: Record<string, string>;
  resources: Resources | undefined;
  /** Capabilities to keep (the release's, from the manifest's allowlist); every other one is dropped. */
  capabilities: readonly string[];
  devices: readonly DeviceMapping[];
  /** Supplementary groups: those owning the device nodes, so a non-root user can open them. */
  groups: readonly number[];
  /** `uid:gid`, never 0. */
  user: string;
  /** The container network (default `bridge`). */
  network: string;
}

/** Size of the writable /tmp every container gets on its read-only root. */
export const CONTAINER_TMPFS = '/tmp:rw,size=64m,mode=1777,nosuid,nodev';

/** The open file and process limits (podman's default RLIMIT_NOFILE can exceed the host's hard limit). */
export const CONTAINER_ULIMITS = ['nofile=1024:1024', 'nproc=1024:1024'] as const;

/** The arguments after `podman [global flags]`: an attached `run` that removes the container when it ends. */
export function containerRunArgs(c: ContainerLaunch): string[] {
  if (/^(0|root)(:|$)/.test(c.user)) throw new Error(`refusing to run container ${c.name} as root (user ${c.user})`);
  const args = [
    'run',
    '--rm',
    '--name',
    c.name,
    // The agent verified and imported the image; the engine must never fetch anything itself.
    '--pull=never',
    '--cap-drop=all',
    ...[...new Set(c.capabilities)].sort().map((cap) => `--cap-add=${cap}`),
    '--security-opt',
    'no-new-privileges',
    '--read-only',
    '--read-only-tmpfs=false',
    '--tmpfs',
    CONTAINER_TMPFS,
    '--user',
    c.user,
    ...CONTAINER_ULIMITS.flatMap((u) => ['--ulimit', u]),
    '--network',
    c.network,
    '--publish',
    `127.0.0.1:${c.hostPort}:${c.containerPort}/tcp`,
    // Signals to the attached client reach the container (a stop is a SIGTERM to it first).
    '--sig-proxy=true',
  ];
  if (c.resources?.memory !== undefined) {
    const bytes = parseMemory(c.resources.memory);
    // No swap beyond the limit: a workload over its memory is killed, not slowed to a crawl.
    args.push('--memory', `${bytes}b`, '--memory-swap', `${bytes}b`);
  }
  if (c.resources?.cpu !== undefined) args.push('--cpus', (parseCpu(c.resources.cpu) / 1000).toFixed(3));
  for (const d of c.devices) args.push('--device', `${d.host}:${d.container}:rw`);
  for (const g of [...new Set(c.groups)].filter((g) => g !== 0).sort((a, b) => a - b)) args.push('--group-add', String(g));
  for (const [k, v] of Object.entries(c.labels).sort(([a], [b]) => a.localeCompare(b))) args.push('--label', `${k}=${v}`);
  for (const [k, v] of Object.entries(c.env).sort(([a], [b]) => a.localeCompare(b))) args.push('--env', `${k}=${v}`);
  if (c.command !== undefined) args.push('--entrypoint', c.command);
  args.push(c.imageId);
  if (c.args !== undefined) args.push(...c.args);
  return args;
}

/** Label keys on every container the agent runs. */
export const LABEL_AGENT = 'io.edgefleet.agent';
export const LABEL_DEPLOYMENT = 'io.edgefleet.deployment';
export const LABEL_REVISION = 'io.edgefleet.revision';
export const LABEL_PART = 'io.edgefleet.part';
export const LABEL_DEVICES = 'io.edgefleet.devices';

/** The labels of one instance; `agent` tells this agent's containers from another agent's on the same host. */
export function containerLabels(agent: string, deployment: string, revision: number, part: string, devices: readonly DeviceMapping[]): Record<string, string> {
  return {
    [LABEL_AGENT]: agent,
    [LABEL_DEPLOYMENT]: deployment,
    [LABEL_REVISION]: String(revision),
    [LABEL_PART]: part,
    [LABEL_DEVICES]: devices.map((d) => d.container).join(','),
  };
}

/** A container name podman accepts (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`), unique per instance. */
export function containerName(deployment: string, revision: number, part: string, unique: string): string {
  return `edgefleet-${deployment.replace(/[^a-zA-Z0-9_.-]/g, '-')}-r${revision}-${part}-${unique}`;
}
