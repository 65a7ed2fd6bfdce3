import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '@edgefleet/protocol';

/**
 * Who workloads run as. On a real node the agent runs as root (it manages devices and its
 * key); a workload is a release's program, or the built-in model server fed a release's
 * model, and must not share that. So by default (`edgefleet agent`) workloads run as a
 * system user, `edgefleet-workload`, which the agent creates when it is missing:
 *
 * - its own uid and group, no login shell, no home, no supplementary groups but the groups
 *   that own the accelerator device nodes the probe found (`/dev/hailo0`, `/dev/apex_0`, …);
 *   never group 0;
 * - `no_new_privs`, so no setuid program gives root back;
 * - a clean environment (PATH, the release's own variables, the EDGEFLEET_ ones);
 * - a working folder of its own (`<data>/workloads/<deployment>`, 0700, owned by it);
 * - its model as an inherited file descriptor (`EDGEFLEET_MODEL_PATH=/proc/self/fd/3`): the
 *   agent's data folder stays closed to it (0700 root), key and certificate included.
 *
 * An agent that is not root (tests, a developer's machine) cannot switch users: it runs
 * workloads as itself and says so in its facts (`security.workloadUser`) and log.
 */

/** The default workload user of `edgefleet agent`. */
export const DEFAULT_WORKLOAD_USER = 'edgefleet-workload';

/** A user the workloads switch to. */
export interface WorkloadUser {
  name: string;
  uid: number;
  gid: number;
}

/** How this agent runs workloads: as a user of their own, or as itself (and why). */
export type WorkloadIdentity = { kind: 'dedicated'; user: WorkloadUser; setpriv: string | undefined } | { kind: 'agent'; reason: string };

/** What resolving the workload user needs from the system (injected in unit tests). */
export interface UserSystem {
  isRoot: () => boolean;
  /** The user's uid and primary gid, or undefined when there is no such user. */
  lookup: (name: string) => { uid: number; gid: number } | undefined;
  /** Creates a system user with a group of its own, no home and no login shell. */
  create: (name: string) => void;
  /** Path of util-linux `setpriv`, or undefined when the system has none. */
  setpriv: () => string | undefined;
}

const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * Decides who workloads run as. `wanted` is the configured user name, or `false` to run them
 * as the agent (an explicit opt-out), or undefined when nothing was configured (library use).
 * Throws a config error for a name that is no user name, or a user that is root.
 */
export function resolveWorkloadUser(wanted: string | false | undefined, sys: UserSystem): WorkloadIdentity {
  if (wanted === undefined) return { kind: 'agent', reason: 'no workload user configured' };
  if (wanted === false) return { kind: 'agent', reason: 'workloads.user is off in the agent config' };
  if (!USER_NAME.test(wanted)) {
    throw errors.config(`workload user "${wanted}" is not a user name`, 'use lowercase letters, digits, "-" and "_" (default: edgefleet-workload)');
  }
  if (!sys.isRoot()) return { kind: 'agent', reason: `the agent does not run as root, so it cannot switch workloads to ${wanted}` };
  let found = sys.lookup(wanted);
  if (found === undefined) {
    sys.create(wanted);
    found = sys.lookup(wanted);
    if (found === undefined) throw errors.config(`cannot create the workload user ${wanted}`, `create it yourself: useradd --system --user-group ${wanted}`);
  }
  if (found.uid === 0 || found.gid === 0) {
    throw errors.config(`workload user ${wanted} is root (uid ${found.uid}, gid ${found.gid})`, 'name an unprivileged user in workloads.user');
  }
  return { kind: 'dedicated', user: { name: wanted, ...found }, setpriv: sys.setpriv() };
}

/** The real system: getent, useradd, setpriv. */
export const hostUserSystem: UserSystem = {
  isRoot: () => process.getuid?.() === 0,
  lookup(name) {
    let line: string;
    try {
      line = execFileSync('getent', ['passwd', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      return undefined;
    }
    const fields = line.trim().split(':');
    const uid = Number(fields[2]);
    const gid = Number(fields[3]);
    return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
  },
  create(name) {
    const nologin = ['/usr/sbin/nologin', '/sbin/nologin'].find((p) => existsSync(p)) ?? '/bin/false';
    try {
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--home-dir', '/nonexistent', '--shell', nologin, name], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (err) {
      const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
      throw errors.config(
        `cannot create the workload user ${name}: ${stderr || (err as Error).message}`,
        `create it yourself (useradd --system --user-group ${name}), or set workloads.user in the agent config`,
      );
    }
  },
  setpriv: () => ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv'].find((p) => existsSync(p)),
};

/**
 * The groups a workload needs for the accelerators: the owning group of each device node
 * that exists, never group 0 (a device only root's group may open stays closed; install the
 * vendor's udev rule, which gives it a group or mode 0666). Device paths are relative to
 * `hwRoot` (the probe's root).
 */
export function acceleratorGroups(hwRoot: string, devices: readonly string[]): number[] {
  const groups = new Set<number>();
  for (const device of devices) {
    if (!device.startsWith('/dev/')) continue; // a USB id, not a node
    try {
      const gid = statSync(join(hwRoot, device)).gid;
      if (gid !== 0) groups.add(gid);
    } catch {
      // Not there (yet): the probe reports it gone on its next pass.
    }
  }
  return [...groups].sort((a, b) => a - b);
}

/** How to start `command args` as `user` with `groups` through setpriv (no_new_privs, no other groups). */
export function setprivCommand(
  setpriv: string,
  user: WorkloadUser,
  groups: readonly number[],
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  const others = groups.filter((g) => g !== 0 && g !== user.gid);
  return {
    command: setpriv,
    args: [
      `--reuid=${user.uid}`,
      `--regid=${user.gid}`,
      others.length > 0 ? `--groups=${others.join(',')}` : '--clear-groups',
      '--no-new-privs',
      '--inh-caps=-all',
      '--',
      command,
      ...args,
    ],
  };
}
