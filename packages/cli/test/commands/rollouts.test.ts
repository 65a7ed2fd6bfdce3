import { describe, expect, it } from 'vitest';
import { statusLine } from '../../src/commands/rollouts.js';

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
