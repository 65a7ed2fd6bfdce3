import { createServer } from 'node:net';
import { parseDuration, type Release, type Resources, releaseEnvProblem } from '@edgefleet/protocol';
import { modelServerEntry, modelServerEnv } from '../model-server/entry.js';
import type { LaunchSpec } from './instance.js';
import type { ModelChoice } from './types.js';

/** A free TCP port on loopback (the OS picks; the workload binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** What one part of a release (primary or fallback) runs, whichever way the manifest wrote it. */
export type PartRuntime =
  | { kind: 'model-server' }
  | { kind: 'process'; command: string; args: string[]; env: Record<string, string>; workingDir: string | undefined }
  | {
      kind: 'container';
      image: string;
      command: string | undefined;
      args: string[] | undefined;
      env: Record<string, string>;
      ports: { name: string; containerPort: number }[] | undefined;
      resources: Resources | undefined;
      capabilities: string[];
    };

/**
 * The runtime of a release's primary or fallback. A fallback that is a model runs in the
 * built-in model server (on the CPU); a process or container fallback runs as written.
 */
export function partRuntime(release: Release, part: ModelChoice): PartRuntime {
  if (part === 'primary') {
    const r = release.runtime;
    if (r.kind === 'model-server') return { kind: 'model-server' };
    if (r.kind === 'process') return { kind: 'process', command: r.command as string, args: r.args ?? [], env: r.env ?? {}, workingDir: r.workingDir };
    return {
      kind: 'container',
      image: r.image as string,
      command: r.command,
      args: r.args,
      env: r.env ?? {},
      ports: r.ports,
      resources: r.resources,
      capabilities: r.capabilities ?? [],
    };
  }
  const f = release.fallback;
  if (f === undefined || !('kind' in f)) return { kind: 'model-server' };
  if (f.kind === 'process') return { kind: 'process', command: f.command, args: f.args ?? [], env: f.env ?? {}, workingDir: f.workingDir };
  return {
    kind: 'container',
    image: f.image,
    command: f.command,
    args: f.args,
    env: f.env ?? {},
    ports: f.ports,
    resources: f.resources,
    capabilities: f.capabilities ?? [],
  };
}

/** The container port serving the Open Inference Protocol: the one named `inference`, else the only one, else 8080. */
export function inferencePort(ports: readonly { name: string; containerPort: number }[] | undefined): number {
  return (ports?.find((p) => p.name === 'inference') ?? ports?.[0])?.containerPort ?? 8080;
}

/**
 * How to run a release's primary or fallback as a process: the built-in model server
 * (`model-server`, and a fallback that is a model) or the release's own program
 * (`process`, e.g. a vendor runtime for a `.hef`), which gets the model path (when the
 * release has a model) and port in EDGEFLEET_MODEL_PATH and EDGEFLEET_PORT. Containers
 * are built by the supervisor around {@link partRuntime} (they need the prepared image).
 */
export function launchSpec(
  deployment: string,
  revision: number,
  release: Release,
  model: ModelChoice,
  modelPath: string | undefined,
  port: number,
): LaunchSpec {
  // The planner refuses such a release with a status; this is the last line before a spawn
  // (a held revision switched back to goes through here too).
  const envProblem = releaseEnvProblem(release);
  if (envProblem !== undefined) throw new Error(`refusing to start ${deployment} revision ${revision}: ${envProblem.field}: ${envProblem.message}`);
  const common = {
    deployment,
    revision,
    model,
    port,
    healthPath: release.health.path,
    healthIntervalMs: parseDuration(release.health.interval),
    failureThreshold: release.health.failureThreshold,
  };
  const served = modelServerEnv({ modelPath: modelPath ?? '', modelName: deployment, modelVersion: String(revision), host: '127.0.0.1', port });
  // A release without a model has no path to hand over.
  if (modelPath === undefined) delete (served as Partial<typeof served>).EDGEFLEET_MODEL_PATH;
  const env = {
    ...(release.env ?? {}),
    EDGEFLEET_DEPLOYMENT: deployment,
    EDGEFLEET_REVISION: String(revision),
    ...served,
  };
  const runtime = partRuntime(release, model);
  if (runtime.kind === 'model-server') {
    if (modelPath === undefined) throw new Error(`${deployment} revision ${revision}: the model server needs a model`);
    const entry = modelServerEntry();
    // The built-in server always answers the OIP health path; a custom path applies to processes.
    return { ...common, healthPath: '/v2/health/ready', command: entry.command, args: entry.args, env, cwd: undefined };
  }
  if (runtime.kind === 'container') throw new Error(`${deployment} revision ${revision}: a container is not started as a process`);
  return { ...common, command: runtime.command, args: runtime.args, env: { ...env, ...runtime.env }, cwd: runtime.workingDir };
}
