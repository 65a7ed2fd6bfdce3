import type { InstanceEvent, LaunchSpec } from '@edgefleet/agent';
import { mulberry32, type Release, ReleaseSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { CRASH_PROBABILITY, ERROR_RATE, LATENCY_MULTIPLIER, LOAD_SECONDS, releaseBehaviour } from '../src/behaviour.js';
import { SimulatedRuntime } from '../src/runtime.js';
import { ManualClock } from './manual-clock.js';

const spec = (revision: number, model: 'primary' | 'fallback' = 'primary'): LaunchSpec => ({
  deployment: 'detect',
  revision,
  model,
  command: 'detect-hailo',
  args: [],
  env: {},
  cwd: undefined,
  port: 0,
  healthPath: '/v2/health/ready',
  healthIntervalMs: 1_000,
  failureThreshold: 3,
});

const release = (annotations?: Record<string, string>, accelerator: 'required' | 'preferred' | 'none' = 'required'): Release =>
  ReleaseSchema.parse({
    version: '1',
    model: { artifact: `sha256:${'a'.repeat(64)}`, format: 'hef' },
    runtime: { kind: 'process', command: 'detect-hailo', accelerator },
    health: { window: '10s' },
    ...(annotations === undefined ? {} : { annotations }),
  });

function setup(opts: { accelerator?: boolean; seed?: number } = {}) {
  const time = new ManualClock();
  let accelerator = opts.accelerator ?? true;
  const starts: string[] = [];
  const runtime = new SimulatedRuntime({
    schedule: time.schedule,
    random: mulberry32(opts.seed ?? 1),
    clock: time.clock,
    hasAccelerator: () => accelerator,
    onStart: (d, r, m) => starts.push(`${d}/${r}/${m}`),
  });
  const spawn = (s: LaunchSpec, r: Release) => {
    const events: InstanceEvent[] = [];
    const output: string[] = [];
    const instance = runtime.spawn(s, r, { clock: time.clock, onEvent: (e) => events.push(e), onOutput: (_s, chunk) => output.push(chunk.toString()) });
    instance.start();
    return { instance, events, output };
  };
  return {
    time,
    runtime,
    spawn,
    starts,
    setAccelerator: (on: boolean) => {
      accelerator = on;
    },
  };
}

describe('simulated runtime', () => {
  it('brings an instance up after the load time (2 s ± 20 % by default), with no process and no port', async () => {
    const { time, runtime, spawn, starts } = setup();
    const { instance, events, output } = spawn(spec(1), release());
    expect(instance.health).toBe('starting');
    expect(instance.pid).toBeUndefined();
    await time.advance(1_500);
    expect(instance.health).toBe('starting');
    await time.advance(1_000);
    expect(instance.health).toBe('ready');
    expect(instance.everReady).toBe(true);
    expect(instance.readySince).toBeGreaterThanOrEqual(1_600);
    expect(events).toEqual([{ kind: 'ready' }]);
    expect(output.join('')).toMatch(/loaded/);
    expect(starts).toEqual(['detect/1/primary']);
    expect(await runtime.freePort()).toBe(0);
    expect((await runtime.openProxy()).port).toBe(0);
    expect(instance.observe()).toMatchObject({ revision: 1, model: 'primary', health: 'ready', pid: undefined });
  });

  it('takes the load time from the release annotation', async () => {
    const { time, spawn } = setup();
    const { instance } = spawn(spec(1), release({ [LOAD_SECONDS]: '5' }));
    await time.advance(3_900);
    expect(instance.health).toBe('starting');
    await time.advance(2_200);
    expect(instance.health).toBe('ready');
  });

  it('with crash probability 1, dies inside the first half of its health window after becoming ready', async () => {
    const { time, spawn } = setup();
    const { instance, events } = spawn(spec(2), release({ [CRASH_PROBABILITY]: '1' }));
    await time.advance(2_400);
    expect(instance.health).toBe('ready');
    await time.advance(5_000);
    expect(instance.health).toBe('exited');
    expect(events.map((e) => e.kind)).toEqual(['ready', 'failed']);
    expect(events[1]).toMatchObject({ reason: 'crashed' });
  });

  it('crashes on about the given share of starts, and never without the annotation', async () => {
    const { time, spawn } = setup({ seed: 9 });
    const half = Array.from({ length: 400 }, () => spawn(spec(3), release({ [CRASH_PROBABILITY]: '0.5' })));
    const none = Array.from({ length: 100 }, () => spawn(spec(4), release()));
    await time.advance(60_000);
    const crashed = half.filter((s) => s.instance.health === 'exited').length;
    expect(crashed).toBeGreaterThan(160);
    expect(crashed).toBeLessThan(240);
    expect(none.every((s) => s.instance.health === 'ready')).toBe(true);
  });

  it('a primary that needs the accelerator dies at load without one; a release that needs none runs', async () => {
    const { time, spawn } = setup({ accelerator: false });
    const needs = spawn(spec(1), release());
    const cpu = spawn(spec(2), release(undefined, 'none'));
    const fallback = spawn(spec(1, 'fallback'), release());
    await time.advance(3_000);
    expect(needs.instance.health).toBe('exited');
    expect(needs.instance.everReady).toBe(false);
    expect(needs.events[0]).toMatchObject({ kind: 'failed', reason: 'crashed' });
    expect(cpu.instance.health).toBe('ready');
    expect(fallback.instance.health).toBe('ready');
  });

  it('runs a primary that only prefers the accelerator on a node without one (on the CPU), and keeps it when a device fails later', async () => {
    const { time, runtime, spawn, setAccelerator } = setup({ accelerator: false });
    const onCpu = spawn(spec(1), release(undefined, 'preferred'));
    await time.advance(3_000);
    expect(onCpu.instance.health).toBe('ready');
    runtime.acceleratorLost();
    expect(onCpu.instance.health).toBe('ready');
    // Started with the device, it used it: losing the device kills it, as on a Pi.
    setAccelerator(true);
    const onDevice = spawn(spec(2), release(undefined, 'preferred'));
    await time.advance(3_000);
    setAccelerator(false);
    runtime.acceleratorLost();
    expect(onDevice.instance.health).toBe('exited');
  });

  it('kills running primaries on the accelerator when it fails, not the fallback', async () => {
    const { time, runtime, spawn, setAccelerator } = setup();
    const primary = spawn(spec(1), release());
    const fallback = spawn(spec(1, 'fallback'), release());
    await time.advance(3_000);
    setAccelerator(false);
    runtime.acceleratorLost();
    expect(primary.instance.health).toBe('exited');
    expect(primary.events.at(-1)).toMatchObject({ kind: 'failed', message: expect.stringMatching(/accelerator/) });
    expect(fallback.instance.health).toBe('ready');
    expect(runtime.liveInstances).toBe(1);
  });

  it('reports nothing after it was stopped', async () => {
    const { time, runtime, spawn } = setup();
    const s = spawn(spec(1), release({ [CRASH_PROBABILITY]: '1' }));
    await s.instance.stop();
    await time.advance(60_000);
    expect(s.events).toEqual([]);
    expect(runtime.liveInstances).toBe(0);
    expect(time.pending).toBe(0);
  });

  it('remembers each revision’s behaviour for the traffic', () => {
    const { runtime, spawn } = setup();
    spawn(spec(7), release({ [LATENCY_MULTIPLIER]: '3', [ERROR_RATE]: '0.2' }));
    expect(runtime.revision('detect', 7)).toMatchObject({ usesAccelerator: true, behaviour: { latencyMultiplier: 3, errorRate: 0.2, crashProbability: 0 } });
    expect(runtime.revision('detect', 8)).toBeUndefined();
  });
});

describe('release annotations', () => {
  it('defaults to a well-behaved release', () => {
    expect(releaseBehaviour(release())).toEqual({ latencyMultiplier: 1, errorRate: 0, crashProbability: 0, loadMs: undefined, problems: [] });
    expect(releaseBehaviour(undefined).latencyMultiplier).toBe(1);
  });

  it('ignores values out of range or not numbers, and says so', () => {
    const b = releaseBehaviour(
      release({
        [LATENCY_MULTIPLIER]: '0',
        [ERROR_RATE]: 'lots',
        [CRASH_PROBABILITY]: '1.5',
        [LOAD_SECONDS]: '2.5',
        'sim.edgefleet.dev/latency': '3',
        'team/owner': 'vision',
      }),
    );
    expect(b).toMatchObject({ latencyMultiplier: 1, errorRate: 0, crashProbability: 0, loadMs: 2_500 });
    expect(b.problems).toEqual([
      'sim.edgefleet.dev/latency: unknown simulator annotation; ignored',
      'sim.edgefleet.dev/latency-multiplier: "0" is not a number above 0 (at most 1000); ignored',
      'sim.edgefleet.dev/error-rate: "lots" is not a share from 0 to 1; ignored',
      'sim.edgefleet.dev/crash-probability: "1.5" is not a probability from 0 to 1; ignored',
    ]);
  });
});
