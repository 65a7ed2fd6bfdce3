import { RolloutEventViewSchema, RolloutStatusSchema } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../../../test-support/cli.js';
import { statusLine } from '../../src/commands/rollouts.js';
import { status } from './gate-fixtures.js';

describe('edgefleet rollout and events', () => {
  it('draws a status line with a progress bar', () => {
    const line = statusLine(
      {
        deployment: 'detect',
        revision: 3,
        fromRevision: 2,
        phase: 'Progressing',
        step: 2,
        steps: 4,
        nodes: { total: 10, updated: 5, pending: 4, deferred: 1, failed: 0, rolledBack: 0 },
        gate: { result: 'pass', reason: 'GatesPassed' },
      },
      10,
    );
    expect(line).toBe('detect r2→r3 Progressing step 2/4 [#####.....] 5/10 updated, 1 deferred gate pass (GatesPassed)');
  });
});

describe('edgefleet rollout status and events, through the command', () => {
  const conn = ['--server', 'https://control-plane.invalid:8443', '--token', 'efa_test_token'];
  afterEach(() => vi.restoreAllMocks());

  it('prints one line per gate for people, and the RolloutStatus contract unchanged with -o json', async () => {
    vi.spyOn(EdgefleetClient.prototype, 'rolloutStatus').mockResolvedValue(status);
    const text = await runCli('rollout', 'status', 'detect', ...conn);
    expect(text.code).toBe(0);
    expect(text.out).toContain('  P99 ratio    3 nodes, 1,240 req: 48.2 ms');
    expect(text.out).toContain('failing (1 of 2)');
    // Piped, not a terminal: no colour codes.
    expect(text.out).not.toContain('\u001b');
    const json = await runCli('rollout', 'status', 'detect', '-o', 'json', ...conn);
    expect(RolloutStatusSchema.parse(JSON.parse(json.out))).toEqual(status);
  });

  it('prints the per-gate messages of gate events under them', async () => {
    const event = RolloutEventViewSchema.parse({
      deployment: 'detect',
      seq: 4,
      time: '2026-12-03T18:00:04.000Z',
      at: Date.parse('2026-12-03T18:00:04.000Z'),
      type: 'GatePassed',
      revision: 3,
      step: 1,
      message: 'step 1 of 4: gates pass',
      gate: { ...(status.gate as object), evaluatedAt: 0, result: 'pass', reason: 'GatesPassed', message: 'gates pass' },
    });
    vi.spyOn(EdgefleetClient.prototype, 'events').mockResolvedValue([event]);
    const r = await runCli('events', ...conn);
    expect(r.code).toBe(0);
    expect(
      r.out
        .split('\n')
        .slice(2, 4)
        .map((l) => l.trim()),
    ).toEqual(['· P95 ratio 1.08 (0.97–1.21 at 95 %), threshold 1.5: passing', '· P99 ratio 1.90 (1.62–2.31 at 95 %), threshold 1.5: failing (1 of 2)']);
  });
});
