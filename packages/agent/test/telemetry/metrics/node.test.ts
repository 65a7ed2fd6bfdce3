import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHardwareFixture } from '../../../src/fixtures/index.js';
import { renderExposition } from '../../../src/telemetry/metrics/exposition.js';
import { readNodeMetrics } from '../../../src/telemetry/metrics/node.js';
import { AgentMetrics } from '../../../src/telemetry/metrics/standard.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgefleet-node-metrics-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const GiB = 1024 ** 3;
/** A 32 GB SD card, half used: what the fixture tests pretend the data dir sits on. */
const halfFull = async () => ({ totalBytes: 32 * GiB, freeBytes: 16 * GiB });

async function fixture(name: string, preset: Parameters<typeof writeHardwareFixture>[1] = 'pi5-hailo8l', opts = {}): Promise<string> {
  const dir = path.join(root, name);
  await writeHardwareFixture(dir, preset, opts);
  return dir;
}

describe('readNodeMetrics on a Raspberry Pi 5 fixture', () => {
  it('reads load, memory, disk, temperature, throttling, network and uptime', async () => {
    const hw = await fixture('pi5', 'pi5-hailo8l', { temperatureMilliC: 67512, throttled: 0x50005 });
    const r = await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull });
    expect(r).toMatchObject({
      cpuUsageRatio: null,
      load1: 0.84,
      load5: 0.71,
      load15: 0.66,
      memoryTotalBytes: 8245016 * 1024,
      memoryUsedBytes: (8245016 - 6636973) * 1024,
      diskTotalBytes: 32 * GiB,
      diskUsedBytes: 16 * GiB,
      temperatureC: 67.5,
      throttledBits: 0x50005,
      uptimeSeconds: 22361.48,
    });
    // Loopback is left out; an idle interface still counts.
    expect(r.network).toEqual([
      { interface: 'eth0', receiveBytes: 1843219543, transmitBytes: 289410233 },
      { interface: 'wlan0', receiveBytes: 0, transmitBytes: 0 },
    ]);
    // The aggregate cpu line of the fixture is the sum of its cores, as on a real kernel.
    expect(r.cpu).toEqual({ total: 241289 + 1205 + 80272 + 8608691 + 3146 + 9989, idle: 8608691 + 3146 });
  });

  it('computes CPU use from the change between two readings', async () => {
    const hw = await fixture('cpu-delta');
    const first = await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull });
    if (first.cpu === null) throw new Error('fixture has no /proc/stat');
    // 400 ticks later (1 s on 4 cores): 300 idle, 20 iowait, 80 busy → 80 / 400 = 20 % busy.
    const { total, idle } = first.cpu;
    const busy = total - idle;
    await writeFile(path.join(hw, 'proc/stat'), `cpu  ${busy + 80} 0 0 ${idle - 3146 + 300} ${3146 + 20} 0 0 0 0 0\n`);
    const second = await readNodeMetrics(hw, root, first.cpu, { diskUsage: halfFull });
    expect(second.cpuUsageRatio).toBeCloseTo(0.2, 12);
    // The same counters again: no time passed, no ratio rather than a division by zero.
    const third = await readNodeMetrics(hw, root, second.cpu ?? undefined, { diskUsage: halfFull });
    expect(third.cpuUsageRatio).toBeNull();
  });

  it('names the PC interfaces and skips loopback there too', async () => {
    const hw = await fixture('pc', 'pc-amd64');
    const r = await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull });
    expect(r.network.map((n) => n.interface)).toEqual(['enp1s0', 'wlo1']);
    expect(r.throttledBits).toBeNull();
  });

  it('reads the real filesystem of the data dir by default', async () => {
    const hw = await fixture('real-disk');
    const r = await readNodeMetrics(hw, root);
    expect(r.diskTotalBytes).toBeGreaterThan(0);
    expect(r.diskUsedBytes).toBeGreaterThanOrEqual(0);
    expect(r.diskUsedBytes).toBeLessThanOrEqual(r.diskTotalBytes as number);
  });
});

describe('readNodeMetrics with sources missing or broken', () => {
  it.each([
    ['proc/stat', { cpu: null }],
    ['proc/loadavg', { load1: null, load5: null, load15: null }],
    ['proc/meminfo', { memoryUsedBytes: null, memoryTotalBytes: null }],
    ['proc/net/dev', { network: [] }],
    ['proc/uptime', { uptimeSeconds: null }],
    ['sys/class/thermal/thermal_zone0/temp', { temperatureC: null }],
    ['run/edgefleet/throttled', { throttledBits: null }],
  ])('without %s that reading is absent and the rest still reads', async (file, absent) => {
    const hw = await fixture(`missing-${file.replace(/\//g, '_')}`);
    await unlink(path.join(hw, file));
    const r = await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull });
    expect(r).toMatchObject(absent);
    expect(r.diskTotalBytes).toBe(32 * GiB);
    if (file !== 'proc/uptime') expect(r.uptimeSeconds).toBe(22361.48);
  });

  it('reads nothing but never throws from an empty root and a data dir that does not exist', async () => {
    const r = await readNodeMetrics(path.join(root, 'nothing-here'), path.join(root, 'no-data-dir'));
    expect(r).toEqual({
      cpu: null,
      cpuUsageRatio: null,
      load1: null,
      load5: null,
      load15: null,
      memoryUsedBytes: null,
      memoryTotalBytes: null,
      diskUsedBytes: null,
      diskTotalBytes: null,
      temperatureC: null,
      throttledBits: null,
      network: [],
      uptimeSeconds: null,
    });
  });

  it('treats a failing or nonsensical disk reading as absent', async () => {
    const hw = await fixture('bad-disk');
    const throwing = await readNodeMetrics(hw, root, undefined, {
      diskUsage: async () => {
        throw new Error('EIO');
      },
    });
    expect(throwing.diskTotalBytes).toBeNull();
    const impossible = await readNodeMetrics(hw, root, undefined, { diskUsage: async () => ({ totalBytes: 10, freeBytes: 20 }) });
    expect(impossible.diskUsedBytes).toBeNull();
  });

  it('ignores malformed lines instead of reporting garbage', async () => {
    const hw = await fixture('garbage');
    await writeFile(path.join(hw, 'proc/loadavg'), 'not a load average\n');
    await writeFile(path.join(hw, 'proc/stat'), 'cpu  1 2 x 4\n');
    await writeFile(path.join(hw, 'proc/net/dev'), 'Inter-|\n face |\n  eth0: 12 oops\n');
    const r = await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull });
    expect(r).toMatchObject({ load1: null, cpu: null, network: [] });
  });
});

describe('AgentMetrics.sampleNode', () => {
  it('publishes a reading and drops the series of a reading that went missing', async () => {
    const hw = await fixture('sample');
    const m = new AgentMetrics();
    m.sampleNode(await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull }));
    const text = renderExposition(m.registry);
    expect(text).toContain('\nedgefleet_node_temperature_celsius 52.3\n');
    expect(text).toContain('\nedgefleet_node_throttled_flags 327685\n');
    expect(text).toContain('\nedgefleet_node_network_receive_bytes_total{interface="eth0"} 1843219543\n');
    expect(text).toContain(`\nedgefleet_node_disk_used_bytes ${16 * GiB}\n`);
    // First reading: no CPU ratio yet, so no sample (not a misleading 0).
    expect(text).not.toMatch(/^edgefleet_node_cpu_usage_ratio /m);

    await unlink(path.join(hw, 'sys/class/thermal/thermal_zone0/temp'));
    m.sampleNode(await readNodeMetrics(hw, root, undefined, { diskUsage: halfFull }));
    expect(renderExposition(m.registry)).not.toMatch(/^edgefleet_node_temperature_celsius /m);
  });
});
