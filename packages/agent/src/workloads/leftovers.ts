import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';

/**
 * Finding the workload processes an earlier agent process left running.
 *
 * A workload outlives an agent killed with -9 (a crash, the OOM killer, `systemctl kill`),
 * holding its port and the accelerator. The next agent kills them before it starts its own.
 * The pids in workloads.json are not enough: a workload exists from its spawn on, and the
 * agent writes its pid a moment later (after an fsync, and for a deployment's first instance
 * after its front door opens), so a kill in between leaves one nobody knows by pid. So the
 * next agent looks at every process and takes the ones that show they are this agent's.
 */

/** What tells this agent's workloads from every other process on the host. */
export interface WorkloadOwner {
  /** The agent's data folder: a workload's model path lies under it. */
  dataDir: string;
  /** Where workloads run as the workload user get their working folders, when they do. */
  workDirRoot: string | undefined;
}

/**
 * Whether a process (its /proc environ text and working folder) is one of the owner's
 * workloads: its environment names a deployment, and its model path is inside the owner's
 * data folder or its working folder is inside the owner's workload root. Inside means the
 * folder followed by a slash: another agent's `/var/lib/edgefleet2` is not inside
 * `/var/lib/edgefleet`, which a plain prefix test would say it is.
 */
export function isOwnedWorkload(environ: string, cwd: string | undefined, owner: WorkloadOwner): boolean {
  const env = parseEnviron(environ);
  if (env.get('EDGEFLEET_DEPLOYMENT') === undefined) return false;
  const modelPath = env.get('EDGEFLEET_MODEL_PATH');
  if (modelPath !== undefined && modelPath !== '') {
    // A relative path (an agent started with a relative --data) is relative to the workload's own folder.
    const absolute = isAbsolute(modelPath) ? modelPath : cwd === undefined ? undefined : resolve(cwd, modelPath);
    if (absolute !== undefined && isInside(absolute, owner.dataDir)) return true;
  }
  return owner.workDirRoot !== undefined && cwd !== undefined && isInside(cwd, owner.workDirRoot);
}

/** Pids of running processes that are the owner's workloads (never this process). */
export function leftoverWorkloadPids(owner: WorkloadOwner, procRoot = '/proc'): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    if (!/^[0-9]+$/.test(name) || Number(name) === process.pid) continue;
    if (ownedProcess(Number(name), owner, procRoot)) pids.push(Number(name));
  }
  return pids;
}

/** Whether one pid is the owner's workload; false when it is gone or not ours to read. */
function ownedProcess(pid: number, owner: WorkloadOwner, procRoot = '/proc'): boolean {
  let environ: string;
  try {
    environ = readFileSync(`${procRoot}/${pid}/environ`, 'utf8');
  } catch {
    return false;
  }
  let cwd: string | undefined;
  try {
    cwd = readlinkSync(`${procRoot}/${pid}/cwd`);
  } catch {
    cwd = undefined;
  }
  return isOwnedWorkload(environ, cwd, owner);
}

function isInside(path: string, folder: string): boolean {
  const root = resolve(folder);
  return resolve(path).startsWith(root.endsWith('/') ? root : `${root}/`);
}

function parseEnviron(environ: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of environ.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}
