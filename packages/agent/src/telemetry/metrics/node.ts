/**
 * The node's own readings for telemetry: CPU use, load, memory, disk of the data dir,
 * temperature, throttled bits, network bytes and uptime. procfs and sysfs are read through
 * `hwRoot` like the hardware probe (`/` on a node, a fixture folder in tests and in the
 * simulator); the disk is the real filesystem holding the data dir, since that is what fills
 * up. A file that is missing or malformed makes that reading null (or leaves the interface
 * out) — an odd kernel must never stop the agent from reporting the rest.
 */
import { statfs } from 'node:fs/promises';
import { readText } from '../../probe/fs.js';
import { readThermal } from '../../probe/thermal.js';

/** Cumulative CPU time from /proc/stat, in USER_HZ ticks; two of them give a usage ratio. */
export interface NodeCpuSample {
  /** All time except guest time (already inside user / nice). */
  total: number;
  /** idle + iowait: time the CPUs could have worked but had nothing runnable. */
  idle: number;
}

/** Bytes one network interface moved since boot (kernel counters). */
export interface NodeNetworkReading {
  interface: string;
  receiveBytes: number;
  transmitBytes: number;
}

/** One reading of the node; every field is null when its source could not be read. */
export interface NodeMetricsReading {
  /** Pass back as `prev` next time to get {@link cpuUsageRatio}. */
  cpu: NodeCpuSample | null;
  /** Busy share of all CPUs (0 … 1) since `prev`; null on the first reading. */
  cpuUsageRatio: number | null;
  load1: number | null;
  load5: number | null;
  load15: number | null;
  /** MemTotal − MemAvailable, bytes. */
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  /** Used bytes (blocks − free blocks) of the filesystem holding the data dir. */
  diskUsedBytes: number | null;
  diskTotalBytes: number | null;
  /** SoC temperature, °C (thermal_zone0). */
  temperatureC: number | null;
  /** `get_throttled` bits (Raspberry Pi only). */
  throttledBits: number | null;
  /** Every interface but `lo`. */
  network: NodeNetworkReading[];
  uptimeSeconds: number | null;
}

/** What {@link readNodeMetrics} needs of a filesystem: its size and free space in bytes. */
export interface DiskUsage {
  totalBytes: number;
  freeBytes: number;
}

export interface NodeReadOptions {
  /**
   * Reads the disk usage of the filesystem holding `path`. Defaults to `fs.statfs`; tests pass
   * their own to simulate a full disk. A throw or null makes the disk readings null.
   */
  diskUsage?: (path: string) => Promise<DiskUsage | null>;
}

/** Reads every node metric once. Never throws for a missing or malformed source. */
export async function readNodeMetrics(hwRoot: string, dataDir: string, prev?: NodeCpuSample, opts: NodeReadOptions = {}): Promise<NodeMetricsReading> {
  const [stat, loadavg, meminfo, netdev, uptime, thermal, disk] = await Promise.all([
    readText(hwRoot, 'proc/stat'),
    readText(hwRoot, 'proc/loadavg'),
    readText(hwRoot, 'proc/meminfo'),
    readText(hwRoot, 'proc/net/dev'),
    readText(hwRoot, 'proc/uptime'),
    readThermal(hwRoot),
    readDisk(dataDir, opts.diskUsage ?? statfsUsage),
  ]);
  const cpu = parseCpu(stat);
  const load = parseLoadavg(loadavg);
  const mem = parseMeminfo(meminfo);
  return {
    cpu,
    cpuUsageRatio: cpuUsage(prev, cpu),
    load1: load?.[0] ?? null,
    load5: load?.[1] ?? null,
    load15: load?.[2] ?? null,
    memoryUsedBytes: mem.used,
    memoryTotalBytes: mem.total,
    diskUsedBytes: disk === null ? null : disk.totalBytes - disk.freeBytes,
    diskTotalBytes: disk?.totalBytes ?? null,
    temperatureC: thermal.temperatureC,
    throttledBits: thermal.throttledBits,
    network: parseNetDev(netdev),
    uptimeSeconds: parseUptime(uptime),
  };
}

async function statfsUsage(path: string): Promise<DiskUsage> {
  const s = await statfs(path);
  return { totalBytes: s.blocks * s.bsize, freeBytes: s.bfree * s.bsize };
}

async function readDisk(dataDir: string, usage: (path: string) => Promise<DiskUsage | null>): Promise<DiskUsage | null> {
  try {
    const d = await usage(dataDir);
    if (d === null || !(d.totalBytes > 0) || !(d.freeBytes >= 0) || d.freeBytes > d.totalBytes) return null;
    return d;
  } catch {
    return null;
  }
}

/** The aggregate `cpu` line: user nice system idle iowait irq softirq steal [guest guest_nice]. */
export function parseCpu(stat: string | null): NodeCpuSample | null {
  const line = stat?.split('\n').find((l) => l.startsWith('cpu '));
  if (line === undefined) return null;
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  if (fields.length < 4 || fields.some((f) => !Number.isFinite(f) || f < 0)) return null;
  // Guest time is already counted in user and nice (kernel/sched/cputime.c), so only the
  // first eight fields add up to wall time.
  const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (fields[3] as number) + (fields[4] ?? 0);
  return { total, idle };
}

function cpuUsage(prev: NodeCpuSample | undefined, now: NodeCpuSample | null): number | null {
  if (prev === undefined || now === null) return null;
  const dTotal = now.total - prev.total;
  const dIdle = now.idle - prev.idle;
  // No time passed (two reads within one tick) or the counters went back (a reboot, or a
  // fixture rewritten): there is no honest ratio.
  if (!(dTotal > 0) || dIdle < 0 || dIdle > dTotal) return null;
  return 1 - dIdle / dTotal;
}

function parseLoadavg(text: string | null): [number, number, number] | null {
  const m = text?.match(/^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\b/);
  if (m === null || m === undefined) return null;
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

function parseMeminfo(text: string | null): { used: number | null; total: number | null } {
  const kb = (key: string): number | null => {
    const m = text?.match(new RegExp(`^${key}:\\s+(\\d+) kB$`, 'm'));
    return m?.[1] === undefined ? null : Number(m[1]) * 1024;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  // MemAvailable (Linux ≥ 3.14) is the kernel's own estimate of what can be allocated without
  // swapping; MemFree alone would count the page cache as used.
  const used = total !== null && available !== null && available <= total ? total - available : null;
  return { used, total };
}

/** /proc/net/dev: two header lines, then `name: rx_bytes rx_packets … tx_bytes …` (tx bytes is the 9th number). */
function parseNetDev(text: string | null): NodeNetworkReading[] {
  const out: NodeNetworkReading[] = [];
  for (const line of text?.split('\n') ?? []) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const fields = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (name === '' || name === 'lo' || fields.length < 16 || fields.some((f) => !Number.isFinite(f) || f < 0)) continue;
    out.push({ interface: name, receiveBytes: fields[0] as number, transmitBytes: fields[8] as number });
  }
  return out;
}

function parseUptime(text: string | null): number | null {
  const m = text?.match(/^\s*(\d+(?:\.\d+)?)\s/);
  return m?.[1] === undefined ? null : Number(m[1]);
}
