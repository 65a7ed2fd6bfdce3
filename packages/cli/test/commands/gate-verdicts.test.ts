import type { GateVerdict, RolloutEventView, RolloutStatus } from '@edgefleet/protocol';
import { RolloutEventViewSchema } from '@edgefleet/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { estimateText, formatGateValue, renderEvents, renderGateVerdicts, stdoutColour, verdictText } from '../../src/commands/gate-verdicts.js';
import { renderStatus } from '../../src/commands/rollouts.js';
import { errorRate, measured, p95, p99, restarts, status, thresholds } from './gate-fixtures.js';

describe('gate verdicts in words', () => {
  it.each([
    [1.08, 'ratio', '1.08'],
    [1.5, 'ratio', '1.50'],
    [4.127, 'ms', '4.13 ms'],
    [11.63, 'ms', '11.6 ms'],
    [48.25, 'ms', '48.3 ms'],
    [1250.4, 'ms', '1250 ms'],
    [0.004, 'share', '0.4 %'],
    [0.0102, 'share', '1.02 %'],
    [0.25, 'share', '25 %'],
    [3, 'count', '3'],
  ] as const)('formats %s as a %s: %s', (v, unit, text) => {
    expect(formatGateValue(v, unit)).toBe(text);
  });

  it('writes the estimate with its interval and confidence, the unit once', () => {
    expect(estimateText(p95)).toBe('1.08 (0.97–1.21 at 95 %)');
    expect(estimateText(errorRate)).toBe('0.4 % (0.1–1.1 % at 95 %)');
    expect(estimateText({ ...p95, gate: 'maxP95LatencyMs', estimate: 11.6, interval: { low: 10.2, high: 13.1 }, confidence: 0.99 })).toBe(
      '11.6 ms (10.2–13.1 ms at 99 %)',
    );
    expect(estimateText(restarts)).toBe('0');
    expect(estimateText({ ...p95, estimate: null })).toBe('—');
  });

  it('says how far a failing gate is from failing the step', () => {
    expect(verdictText(p99, 2)).toBe('failing (1 of 2)');
    // Evaluations recorded before failureThreshold existed do not know it.
    expect(verdictText(p99)).toBe('failing');
    expect(verdictText(p95, 2)).toBe('passing');
    expect(verdictText({ verdict: 'insufficient-data', consecutiveFailures: 0 }, 2)).toBe('insufficient data');
  });

  it('draws one aligned line per gate, then the warm-up left out', () => {
    expect(renderGateVerdicts(status.gate as NonNullable<RolloutStatus['gate']>, { colour: false })).toEqual([
      '  GATE         CANARY                        BASELINE                        ESTIMATE                    THRESHOLD   VERDICT',
      '  P95 ratio    3 nodes, 1,240 req: 11.6 ms   40 nodes, 18,302 req: 10.7 ms   1.08 (0.97–1.21 at 95 %)    ≤ 1.50      passing',
      '  P99 ratio    3 nodes, 1,240 req: 48.2 ms   40 nodes, 18,302 req: 25.4 ms   1.90 (1.62–2.31 at 95 %)    ≤ 1.50      failing (1 of 2)',
      '  error rate   3 nodes, 1,240 req: 0.4 %     40 nodes, 18,302 req: 0.02 %    0.4 % (0.1–1.1 % at 95 %)   ≤ 1.02 %    undecided',
      '  restarts     3 nodes, 1,240 req: 0         —                               0                           ≤ 0         passing',
      '  warm-up: 150 canary requests left out (1 node still warming up)',
    ]);
  });

  it('colours only the verdict, and only when asked (a terminal)', () => {
    const lines = renderGateVerdicts({ gates: [p95, p99], measured: {}, thresholds: { failureThreshold: 2 } }, { colour: true });
    const ESC = '\u001b';
    expect(lines[1]?.endsWith(` ${ESC}[32mpassing${ESC}[0m`)).toBe(true);
    expect(lines[2]?.endsWith(` ${ESC}[31mfailing (1 of 2)${ESC}[0m`)).toBe(true);
    // The same columns as without colour.
    const plain = renderGateVerdicts({ gates: [p95, p99], measured: {}, thresholds: { failureThreshold: 2 } }, { colour: false });
    expect(lines.map((l) => l.replaceAll(`${ESC}[32m`, '').replaceAll(`${ESC}[31m`, '').replaceAll(`${ESC}[0m`, ''))).toEqual(plain);
    expect(plain.join('\n')).not.toContain('\u001b');
    // No warm-up line when nothing was left out.
    expect(plain).toHaveLength(3);
  });

  it('shows the rollout, the per-gate table and the conditions in `rollout status`', () => {
    const text = renderStatus(status, { colour: false });
    expect(text.split('\n').slice(0, 3)).toEqual([
      'detect r2→r3 Progressing step 1/4 [##............................] 3/48 updated gate hold (Undecided)',
      'gate: hold — Undecided',
      '  GATE         CANARY                        BASELINE                        ESTIMATE                    THRESHOLD   VERDICT',
    ]);
    expect(text).toContain('GatesPassing=Unknown (Undecided) step 1: P99 ratio failing (1 of 2)');
    expect(text).not.toContain('measured:');
  });

  it('falls back to the raw measurements for an evaluation without per-gate verdicts', () => {
    const old = { ...status, gate: { ...(status.gate as NonNullable<RolloutStatus['gate']>), gates: [] } };
    const text = renderStatus(old, { colour: false });
    expect(text).toContain('  measured:   canaryNodes=3 canaryRequests=1240');
    expect(text).toContain('  thresholds: minRequests=200 p95LatencyRatio=1.5');
    expect(text).not.toContain('GATE');
  });

  it('lists each gate of a gate event under its message in `events`', () => {
    const event = (seq: number, type: string, message: string, gates?: GateVerdict[]): RolloutEventView =>
      RolloutEventViewSchema.parse({
        deployment: 'detect',
        seq,
        time: `2026-12-03T18:00:0${seq}.000Z`,
        at: Date.parse(`2026-12-03T18:00:0${seq}.000Z`),
        type,
        revision: 3,
        step: 1,
        message,
        ...(type === 'StepStarted'
          ? {}
          : {
              gate: {
                result: 'fail',
                reason: 'P99LatencyRatioExceeded',
                message,
                evaluatedAt: 0,
                measured,
                thresholds,
                ...(gates === undefined ? {} : { gates }),
              },
            }),
      });
    const text = renderEvents(
      [
        event(1, 'StepStarted', 'step 1: 1 % (1 of 48 nodes) on revision 3'),
        event(2, 'GateFailed', 'step 1: P99 ratio failing', [
          p95,
          { ...p99, consecutiveFailures: 2, message: 'P99 ratio 1.90 (1.62–2.31 at 95 %), threshold 1.5: failing (2 of 2)' },
        ]),
        // An event recorded before per-gate verdicts existed: its message only.
        event(3, 'GatePassed', 'step 1: gates pass'),
      ],
      { colour: false },
    );
    expect(text.split('\n')).toEqual([
      'TIME                       DEPLOYMENT   REVISION   STEP   EVENT         MESSAGE',
      '2026-12-03T18:00:01.000Z   detect       3          1      StepStarted   step 1: 1 % (1 of 48 nodes) on revision 3',
      '2026-12-03T18:00:02.000Z   detect       3          1      GateFailed    step 1: P99 ratio failing',
      '                                                                        · P95 ratio 1.08 (0.97–1.21 at 95 %), threshold 1.5: passing',
      '                                                                        · P99 ratio 1.90 (1.62–2.31 at 95 %), threshold 1.5: failing (2 of 2)',
      '2026-12-03T18:00:03.000Z   detect       3          1      GatePassed    step 1: gates pass',
    ]);
    expect(renderEvents([], { colour: false })).toBe('TIME   DEPLOYMENT   REVISION   STEP   EVENT   MESSAGE');
  });

  describe('colour', () => {
    const tty = process.stdout.isTTY;
    afterEach(() => {
      process.stdout.isTTY = tty;
      vi.unstubAllEnvs();
    });
    it('is on for a terminal only, and off when NO_COLOR is set', () => {
      process.stdout.isTTY = false;
      expect(stdoutColour()).toBe(false);
      process.stdout.isTTY = true;
      vi.stubEnv('NO_COLOR', '');
      expect(stdoutColour()).toBe(true);
      vi.stubEnv('NO_COLOR', '1');
      expect(stdoutColour()).toBe(false);
    });
  });
});
