/**
 * Operator commands, applied in order at the start of a plan: pause, resume, promote
 * [full], abort, undo [now]. A command that does not apply to the rollout as it is becomes a
 * `CommandIgnored` event saying why, never an error: it was already accepted by the API.
 */
import { endRollout } from './endings.js';
import { beginRollout, type RolloutPass, recordEvent, stepLabel } from './rollout-pass.js';
import { isActive, isUndo, type RolloutState } from './state.js';
import { startStep } from './steps.js';
import type { RolloutCommand } from './types.js';

/** Applies one operator command to the rollout (or records why it does not apply). */
export function applyCommand(pass: RolloutPass, c: RolloutCommand): void {
  const st = pass.state;
  const by = c.by === undefined ? '' : ` by ${c.by}`;
  const why = whyCommandIgnored(st, c);
  if (why !== undefined) {
    recordEvent(pass, 'CommandIgnored', `${c.command}${by} ignored: ${why}`);
    return;
  }
  switch (c.command) {
    case 'pause':
      st.phase = 'Paused';
      st.reason = 'PausedByOperator';
      st.message = `paused${by} at ${stepLabel(pass)}`;
      recordEvent(pass, 'Paused', st.message);
      return;
    case 'resume':
      resume(pass);
      recordEvent(pass, 'Resumed', `resumed${by} at ${stepLabel(pass)}`);
      return;
    case 'promote':
      if (st.phase === 'Paused') resume(pass);
      st.promote = c.full === true || st.promote === 'full' ? 'full' : 'step';
      recordEvent(
        pass,
        'Promoted',
        st.promote === 'full'
          ? `promoted${by}: every remaining step's bake and gates are skipped`
          : `promoted${by}: ${stepLabel(pass)} completes without waiting for its bake or gates`,
      );
      return;
    case 'abort':
      endRollout(pass, 'Aborted', 'Aborted', `aborted${by} at ${stepLabel(pass)}`);
      return;
    case 'undo':
      undo(pass, c.now === true, by);
      return;
  }
}

/** Why a command does not apply to a rollout in `state`; undefined when it does. */
export function whyCommandIgnored(state: RolloutState, c: RolloutCommand): string | undefined {
  const finished = `the rollout of revision ${state.revision} is ${state.phase}`;
  switch (c.command) {
    case 'pause':
      if (!isActive(state.phase)) return finished;
      return state.phase === 'Paused' ? 'already paused' : undefined;
    case 'resume':
      if (state.phase === 'Paused') return undefined;
      return isActive(state.phase) ? 'not paused' : finished;
    case 'promote':
    case 'abort':
      return isActive(state.phase) ? undefined : finished;
    case 'undo':
      if (!(isActive(state.phase) || state.phase === 'Succeeded')) return `the rollout of revision ${state.revision} is already ${state.phase}`;
      if (state.fromRevision === null) return `revision ${state.revision} is the deployment's first: there is no previous revision (use abort to stop it)`;
      if (isUndo(state) && isActive(state.phase)) return `an undo to revision ${state.revision} is in progress (abort stops it)`;
      return undefined;
  }
}

function resume(pass: RolloutPass): void {
  const st = pass.state;
  st.phase = 'Progressing';
  st.reason = 'NodesUpdating';
  st.message = `resumed at ${stepLabel(pass)}`;
  // Judge the step on fresh data, and give it a fresh deadline.
  st.windowStart = pass.now;
  if (st.reachedAt !== null) st.reachedAt = pass.now;
  st.lastProgressAt = pass.now;
  st.hold = null;
  st.gateStreaks = {};
}

/** Undo (already checked to apply): back to the previous revision, in steps or at once. */
function undo(pass: RolloutPass, now: boolean, by: string): void {
  const old = pass.state;
  const previous = old.fromRevision as number;
  if (now) {
    endRollout(pass, 'RolledBack', 'Undone', `undone${by}: every node that got revision ${old.revision} goes back to revision ${previous} now`);
    return;
  }
  // Back through the same steps. An unfinished rollout only moves back the nodes that got it.
  const scope = old.phase === 'Succeeded' ? null : [...pass.table.assignedIds()];
  beginRollout(pass, { revision: previous, from: old.revision, specRevision: old.specRevision, scope, events: old.events });
  recordEvent(
    pass,
    'UndoStarted',
    `undo${by}: revision ${previous} comes back in steps over ${scope === null ? `all ${pass.table.size} targeted nodes` : `the ${pass.table.scopeSize} nodes that got revision ${old.revision}`}`,
  );
  startStep(pass, 0);
}
