import { describe, expect, it } from 'vitest';
import { whyCommandIgnored } from '../../src/rollouts/commands.js';
import type { RolloutState } from '../../src/rollouts/state.js';
import type { RolloutCommand, RolloutPhase } from '../../src/rollouts/types.js';

/** Only the fields `whyCommandIgnored` reads. */
const at = (phase: RolloutPhase, o: { revision?: number; specRevision?: number; fromRevision?: number | null } = {}): RolloutState =>
  ({
    phase,
    revision: o.revision ?? 2,
    specRevision: o.specRevision ?? o.revision ?? 2,
    fromRevision: o.fromRevision === undefined ? 1 : o.fromRevision,
  }) as RolloutState;

const cmd = (command: RolloutCommand['command']): RolloutCommand => ({ command });

describe('whyCommandIgnored: which commands apply to a rollout as it is', () => {
  it.each([
    { c: 'pause', st: at('Progressing'), why: undefined },
    { c: 'pause', st: at('Holding'), why: undefined },
    { c: 'pause', st: at('Paused'), why: 'already paused' },
    { c: 'pause', st: at('Succeeded'), why: 'the rollout of revision 2 is Succeeded' },
    { c: 'resume', st: at('Paused'), why: undefined },
    { c: 'resume', st: at('Progressing'), why: 'not paused' },
    { c: 'resume', st: at('RolledBack'), why: 'the rollout of revision 2 is RolledBack' },
    { c: 'promote', st: at('Paused'), why: undefined },
    { c: 'promote', st: at('Aborted'), why: 'the rollout of revision 2 is Aborted' },
    { c: 'abort', st: at('Holding'), why: undefined },
    { c: 'abort', st: at('Succeeded'), why: 'the rollout of revision 2 is Succeeded' },
    { c: 'undo', st: at('Progressing'), why: undefined },
    { c: 'undo', st: at('Succeeded'), why: undefined },
    { c: 'undo', st: at('RolledBack'), why: 'the rollout of revision 2 is already RolledBack' },
    {
      c: 'undo',
      st: at('Succeeded', { fromRevision: null }),
      why: "revision 2 is the deployment's first: there is no previous revision (use abort to stop it)",
    },
    { c: 'undo', st: at('Progressing', { revision: 1, specRevision: 2 }), why: 'an undo to revision 1 is in progress (abort stops it)' },
    { c: 'undo', st: at('Succeeded', { revision: 1, specRevision: 2 }), why: undefined },
  ] as const)('$c while $st.phase (revision $st.revision of $st.specRevision) → $why', ({ c, st, why }) => {
    expect(whyCommandIgnored(st, cmd(c))).toBe(why);
  });
});
