/**
 * What a process costs, read from /proc like `top` does: resident memory and CPU time. The
 * benchmarks measure the server and the agent in processes of their own so that the load
 * generator's own memory and CPU never count as theirs.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Clock ticks per second of /proc/PID/stat times (100 on Linux almost everywhere). */
export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Resident set size of a process in MiB (VmRSS), or NaN once it is gone. */
export function rssMb(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? Number.NaN : Number(m[1]) / 1024;
  } catch {
    return Number.NaN;
  }
}

/** The fields of /proc/PID/stat after the command name (in parentheses, may hold spaces): index 0 is the state. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds a process has used so far (user + system), or NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = statFields(pid);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state field.
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU seconds a PostgreSQL cluster has used so far, its data folder given: the postmaster,
 * the backends and workers it runs now, and those it has reaped (its children's times), or
 * NaN when it is not running. A bench on PostgreSQL counts these beside the server's: the
 * database's work happens in them, where SQLite's happens in the server's process.
 */
export function postgresCpuSeconds(dataDir: string): number {
  try {
    const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const own = statFields(postmaster);
    // utime, stime, cutime, cstime: 11–14 after the state field.
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const f = statFields(Number(name));
        if (Number(f[1]) === postmaster) ticks += Number(f[11]) + Number(f[12]);
      } catch {
        // gone meanwhile
      }
    }
    return ticks / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * Microseconds so far that some runnable task waited for a CPU (Linux pressure stall
 * information, /proc/pressure/cpu), or NaN where unavailable. The difference over an interval
 * divided by its length says how contended the machine was: other work on a shared machine
 * makes the measured process wait, which shows as latency.
 */
export function cpuStallMicros(): number {
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    return m === null ? Number.NaN : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/** The machine, as each BENCHMARKS.md entry records it. */
export function machineLine(): string {
  const run = (cmd: string, args: string[]): string => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
    } catch {
      return '?';
    }
  };
  const memGiB = /^Mem:\s+(\d+)/m.exec(run('free', ['-g']))?.[1] ?? '?';
  return `${run('nproc', [])} cores, ${memGiB} GiB, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 16)}Z`;
}

/** The p-th percentile (0–100) of an ascending list; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Rounds for printing and JSON. */
export function round(x: number, digits = 1): number {
  return Number.isFinite(x) ? Number(x.toFixed(digits)) : x;
}
