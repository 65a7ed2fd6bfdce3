/**
 * Does pooling the agents' timers matter? Runs `--loops` sleep loops shaped like an agent's
 * (jittered interval, a fresh AbortController per wait, as `Agent.wakeable` does) for
 * `--seconds`, once with a `setTimeout` per wait and once with the simulator's `TimerPool`,
 * and prints CPU time, RSS and live timers for both. Not a test: nothing here passes or fails.
 *
 *   node --conditions=edgefleet:source --import tsx packages/sim/bench/timers.ts [--loops 20000] [--seconds 20] [--interval-ms 1000]
 */
import { parseArgs } from 'node:util';
import { sleep as setTimeoutSleep } from '@edgefleet/protocol';
import { TimerPool } from '../src/timers.js';

const { values } = parseArgs({
  options: { loops: { type: 'string', default: '20000' }, seconds: { type: 'string', default: '20' }, 'interval-ms': { type: 'string', default: '1000' } },
});
const loops = Number(values.loops);
const seconds = Number(values.seconds);
const intervalMs = Number(values['interval-ms']);

type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

async function run(name: string, sleep: Sleep, timers: () => number): Promise<Record<string, number | string>> {
  const until = Date.now() + seconds * 1000;
  let waits = 0;
  let maxTimers = 0;
  const cpu0 = process.cpuUsage();
  const loop = async (): Promise<void> => {
    while (Date.now() < until) {
      const ac = new AbortController();
      await sleep(intervalMs * (0.9 + 0.2 * Math.random()), ac.signal);
      waits++;
    }
  };
  const sampler = setInterval(() => {
    maxTimers = Math.max(maxTimers, timers());
  }, 500);
  await Promise.all(Array.from({ length: loops }, loop));
  clearInterval(sampler);
  const cpu = process.cpuUsage(cpu0);
  global.gc?.();
  return {
    name,
    waits,
    cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
    cpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / seconds) * 100),
    rssMb: Math.round(process.memoryUsage().rss / 2 ** 20),
    maxLiveTimers: maxTimers,
  };
}

const activeTimers = (): number =>
  (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
// protocol's sleep: the setTimeout per wait that every agent outside the simulator uses.
const native = await run('setTimeout per wait', setTimeoutSleep, activeTimers);
console.log(native);
const pool = new TimerPool();
const pooled = await run('TimerPool', pool.sleep, () => pool.pending);
console.log({ ...pooled, nodeTimerWakeUps: pool.wakeUps });
pool.close();
console.log(
  JSON.stringify({
    loops,
    seconds,
    nativeCpuSeconds: native.cpuSeconds,
    pooledCpuSeconds: pooled.cpuSeconds,
    nativeRssMb: native.rssMb,
    pooledRssMb: pooled.rssMb,
  }),
);
