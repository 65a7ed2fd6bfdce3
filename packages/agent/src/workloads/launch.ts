import { createServer } from 'node:net';
import { parseDuration, type Release, releaseEnvProblem } from '@edgefleet/protocol';
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

/**
 * How to run a release's primary or fallback model. The fallback always runs in the
 * built-in model server on the CPU. The primary runs in the built-in server
 * (`model-server`) or as the release's own program (`process`, e.g. a vendor runtime for a
 * `.hef`), which gets the model path and port in EDGEFLEET_MODEL_PATH and EDGEFLEET_PORT.
 */
export function launchSpec(deployment: string, revision: number, release: Release, model: ModelChoice, modelPath: string, port: number): LaunchSpec {
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
  const env = {
    ...(release.env ?? {}),
    EDGEFLEET_DEPLOYMENT: deployment,
    EDGEFLEET_REVISION: String(revision),
    ...modelServerEnv({ modelPath, modelName: deployment, modelVersion: String(revision), host: '127.0.0.1', port }),
  };
  if (model === 'fallback' || release.runtime.kind === 'model-server') {
    const entry = modelServerEntry();
    // The built-in server always answers the OIP health path; a custom path applies to processes.
    return { ...common, healthPath: '/v2/health/ready', command: entry.command, args: entry.args, env, cwd: undefined };
  }
  return {
    ...common,
    command: release.runtime.command as string,
    args: release.runtime.args ?? [],
    env: { ...env, ...(release.runtime.env ?? {}) },
    cwd: release.runtime.workingDir,
  };
}
