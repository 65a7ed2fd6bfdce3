import { describe, expect, it } from 'vitest';
import { type ActiveAlert, type AlertInput, type AlertRules, evaluateAlerts, parseAlertRules } from '../../../src/telemetry/alerts/rules.js';

const GB = 1e9;
const T0 = 1_736_942_400_000;

/** A healthy Pi 5 with a Hailo HAT: nothing fires. */
function healthy(over: Partial<AlertInput> = {}, node: Partial<AlertInput['node']> = {}): AlertInput {
  return {
    now: T0,
    node: { diskUsedBytes: 16 * GB, diskTotalBytes: 32 * GB, temperatureC: 52.3, throttledBits: 0x50000, ...node },
    queueFillRatio: 0.1,
    acceleratorExpected: true,
    acceleratorPresent: true,
    workloads: [{ deployment: 'cam-detect', revision: 3, crashLoop: false }],
    ...over,
  };
}

/** Evaluates a sequence of inputs, threading the state through, and returns every step's result. */
function run(inputs: AlertInput[], rules: AlertRules = {}) {
  let active = new Map<string, ActiveAlert>();
  return inputs.map((input) => {
    const r = evaluateAlerts(input, rules, active);
    active = r.active;
    return r;
  });
}

interface Case {
  rule: string;
  bad: AlertInput;
  message: string;
  severity: 'warning' | 'critical';
  labels?: Record<string, string>;
  /** Time the condition must hold before firing. */
  forMs: number;
}

const CASES: Case[] = [
  { rule: 'DiskAlmostFull', bad: healthy({}, { diskUsedBytes: 29.792 * GB }), message: 'disk 93.1% full (threshold 90%)', severity: 'critical', forMs: 0 },
  { rule: 'NodeTooHot', bad: healthy({}, { temperatureC: 82.4 }), message: 'SoC temperature 82.4 °C (threshold 80 °C)', severity: 'warning', forMs: 60_000 },
  {
    rule: 'NodeThrottled',
    bad: healthy({}, { throttledBits: 0x50005 }),
    message: 'throttled now: under-voltage, throttled (get_throttled 0x50005)',
    severity: 'warning',
    forMs: 0,
  },
  {
    rule: 'AcceleratorLost',
    bad: healthy({ acceleratorPresent: false }),
    message: 'the node is labelled with an AI accelerator but none is seen',
    severity: 'critical',
    forMs: 30_000,
  },
  {
    rule: 'TelemetryQueueAlmostFull',
    bad: healthy({ queueFillRatio: 0.85 }),
    message: 'telemetry queue 85.0% full (threshold 80%)',
    severity: 'warning',
    forMs: 0,
  },
  {
    rule: 'WorkloadCrashLoop',
    bad: healthy({ workloads: [{ deployment: 'cam-detect', revision: 3, crashLoop: true }] }),
    message: 'workload cam-detect revision 3 is crash-looping',
    severity: 'critical',
    labels: { deployment: 'cam-detect', revision: '3' },
    forMs: 0,
  },
];

describe('local alert rules', () => {
  it('fires nothing on a healthy node (throttling only in the past does not count)', () => {
    expect(run([healthy()])[0]).toEqual({ alerts: [], changes: [], active: new Map() });
  });

  it.each(CASES)('$rule fires after its `for`, reports while firing, resolves once', ({ rule, bad, message, severity, labels, forMs }) => {
    const at = (t: number, input: AlertInput): AlertInput => ({ ...input, now: T0 + t });
    // With a `for`, the first bad reading only makes it pending; without, it fires at once.
    const pending = forMs > 0 ? [at(0, bad)] : [];
    const steps = run([...pending, at(forMs, bad), at(forMs + 15_000, bad), at(forMs + 30_000, healthy()), at(forMs + 45_000, healthy())]);
    const firing = { name: rule, state: 'firing', severity, since: T0 + forMs, message, ...(labels ? { labels } : {}) };

    if (forMs > 0) {
      expect(steps[0]).toMatchObject({ alerts: [], changes: [] });
      expect(steps.shift()?.active.values().next().value).toMatchObject({ name: rule, state: 'pending' });
    }
    expect(steps[0]?.changes).toEqual([{ name: rule, state: 'firing', message, ...(labels ? { labels } : {}) }]);
    expect(steps[0]?.alerts).toEqual([firing]);
    // Still firing: reported again, but no new transition (no second log line or condition change).
    expect(steps[1]?.alerts).toEqual([firing]);
    expect(steps[1]?.changes).toEqual([]);
    // Resolved: reported once as resolved, then forgotten.
    expect(steps[2]?.changes).toMatchObject([{ name: rule, state: 'resolved' }]);
    expect(steps[2]?.alerts).toMatchObject([{ name: rule, state: 'resolved', severity, since: T0 + forMs + 30_000 }]);
    expect(steps[3]).toEqual({ alerts: [], changes: [], active: new Map() });
  });

  it('forgets a pending alert whose condition cleared before its `for` elapsed, without reporting it', () => {
    const hot = healthy({}, { temperatureC: 85 });
    const steps = run([hot, { ...healthy(), now: T0 + 30_000 }, { ...hot, now: T0 + 45_000 }, { ...hot, now: T0 + 100_000 }]);
    expect(steps.slice(0, 3).flatMap((s) => [...s.alerts, ...s.changes])).toEqual([]);
    // The hold restarts from the second hot reading: 55 s < 60 s, still pending.
    expect(steps[3]?.alerts).toEqual([]);
    expect(steps[3]?.active.get('NodeTooHot')).toMatchObject({ state: 'pending', activeSince: T0 + 45_000 });
  });

  it('neither fires nor resolves on a reading that is unknown', () => {
    const steps = run([healthy({}, { diskUsedBytes: 31 * GB }), healthy({ now: T0 + 15_000 }, { diskUsedBytes: null, diskTotalBytes: null })]);
    expect(steps[1]?.changes).toEqual([]);
    expect(steps[1]?.alerts).toMatchObject([{ name: 'DiskAlmostFull', state: 'firing' }]);
    // A node without a thermal zone never alerts on temperature.
    expect(run([healthy({}, { temperatureC: null })])[0]?.alerts).toEqual([]);
  });

  it('does not alert on a lost accelerator when none was expected', () => {
    expect(
      run([
        healthy({ acceleratorExpected: false, acceleratorPresent: false, now: T0 }),
        healthy({ acceleratorExpected: false, acceleratorPresent: false, now: T0 + 60_000 }),
      ])[1]?.alerts,
    ).toEqual([]);
  });

  it('tracks crash loops per workload and resolves one whose workload went away', () => {
    const looping = (deployment: string, revision: number) => ({ deployment, revision, crashLoop: true });
    const steps = run([
      healthy({ workloads: [looping('cam-detect', 3), looping('audio', 1)] }),
      healthy({ now: T0 + 15_000, workloads: [looping('audio', 1)] }),
    ]);
    expect(steps[0]?.alerts.map((a) => a.labels)).toEqual([
      { deployment: 'cam-detect', revision: '3' },
      { deployment: 'audio', revision: '1' },
    ]);
    expect(steps[1]?.changes).toEqual([
      {
        name: 'WorkloadCrashLoop',
        state: 'resolved',
        message: 'workload cam-detect revision 3 is crash-looping — no longer applies',
        labels: { deployment: 'cam-detect', revision: '3' },
      },
    ]);
    expect(steps[1]?.alerts.map((a) => `${a.state} ${a.labels?.deployment}`)).toEqual(['firing audio', 'resolved cam-detect']);
  });

  it.each([
    ['diskPercent', { diskPercent: 95 }, { diskUsedBytes: 30 * GB }, { diskUsedBytes: 30.72 * GB }, 'disk 96.0% full (threshold 95%)'],
    ['temperatureC', { temperatureC: 70 }, { temperatureC: 69.9 }, { temperatureC: 70.1 }, 'SoC temperature 70.1 °C (threshold 70 °C)'],
  ] as const)('uses an overridden %s threshold', (_field, rules, below, above, message) => {
    const steps = run([healthy({}, below), healthy({ now: T0 + 60_000 }, above), healthy({ now: T0 + 120_000 }, above)], rules);
    expect(steps[0]?.alerts).toEqual([]);
    expect(steps.at(-1)?.alerts).toMatchObject([{ state: 'firing', message }]);
  });

  it('uses an overridden queue threshold', () => {
    expect(run([healthy({ queueFillRatio: 0.85 })], { queuePercent: 90 })[0]?.alerts).toEqual([]);
    expect(run([healthy({ queueFillRatio: 0.55 })], { queuePercent: 50 })[0]?.alerts).toMatchObject([
      { message: 'telemetry queue 55.0% full (threshold 50%)' },
    ]);
  });

  it('skips disabled rules, and resolves one that was firing when it got disabled', () => {
    const full = healthy({ queueFillRatio: 0.99 }, { diskUsedBytes: 31 * GB });
    expect(run([full], { disabled: ['DiskAlmostFull'] })[0]?.alerts.map((a) => a.name)).toEqual(['TelemetryQueueAlmostFull']);

    const first = evaluateAlerts(full, {}, new Map());
    const after = evaluateAlerts({ ...full, now: T0 + 15_000 }, { disabled: ['DiskAlmostFull'] }, first.active);
    expect(after.changes).toEqual([
      { name: 'DiskAlmostFull', state: 'resolved', message: 'disk 96.9% full (threshold 90%) — rule disabled in the agent config' },
    ]);
    expect(after.active.has('DiskAlmostFull')).toBe(false);
  });
});

describe('alert rules from the agent config', () => {
  it('accepts overrides and an empty section', () => {
    expect(parseAlertRules({ diskPercent: 85, temperatureC: 75, queuePercent: 70, disabled: ['NodeThrottled'] })).toEqual({
      diskPercent: 85,
      temperatureC: 75,
      queuePercent: 70,
      disabled: ['NodeThrottled'],
    });
    expect(parseAlertRules(undefined)).toEqual({});
  });

  it.each([
    [{ diskPercent: 120 }, /alerts\.diskPercent must be at most 100 \(got 120\)/],
    [{ queuePercent: 0 }, /alerts\.queuePercent must be above 0/],
    [{ temperatureC: '80' }, /alerts\.temperatureC .*\(got "80"\)/],
    [{ disabled: ['DiskFull'] }, /alerts\.disabled\.0 must name built-in rules: DiskAlmostFull, NodeTooHot/],
    [{ diskPrecent: 80 }, /alerts has unknown field\(s\) diskPrecent/],
  ])('rejects %j naming the field', (input, error) => {
    expect(() => parseAlertRules(input)).toThrow(error);
  });
});
