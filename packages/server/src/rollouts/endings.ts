/**
 * How a rollout ends: it succeeds, it is rolled back or aborted (the nodes that got the
 * revision go back), or a failure pauses it for an operator (`onFailure: pause`).
 */
import type { GateEvaluation } from './gates.js';
import { desiredAt, hold, type RolloutPass, recordEvent, revisionName, stepLabel } from './rollout-pass.js';
import type { RolloutReason } from './types.js';

/** Why a step fails: the reasons `failStep` takes. */
type StepFailure = 'GateFailed' | 'NodesFailed' | 'ProgressDeadlineExceeded' | 'AnalysisTimeExceeded';

/** Ends the rollout as RolledBack or Aborted: every node whose desired revision changes by it goes back. */
export function endRollout(pass: RolloutPass, phase: 'RolledBack' | 'Aborted', reason: RolloutReason, message: string, gate?: GateEvaluation): void {
  const st = pass.state;
  const back: number[] = [];
  for (let p = 0; p < pass.table.size; p++) if (desiredAt(pass, p, st.phase) !== desiredAt(pass, p, phase)) back.push(p);
  const ids = pass.table.setRolledBack(back);
  st.phase = phase;
  st.reason = reason;
  st.finishedAt = pass.now;
  st.promote = 'none';
  st.message = `${message}; ${ids.length} nodes go back to ${revisionName(st.fromRevision)}`;
  if (ids.length > 0) {
    pass.actions.push({ action: 'rollback', nodeIds: ids, toRevision: st.fromRevision });
    recordEvent(pass, 'RollbackStarted', `${ids.length} nodes go back to ${revisionName(st.fromRevision)}: ${message}`, {
      nodeIds: ids,
      ...(gate === undefined ? {} : { gate }),
    });
  }
  pass.actions.push({ action: 'finish', phase });
  if (phase === 'Aborted') recordEvent(pass, 'Aborted', st.message);
}

/** The rollout succeeded: every targeted node runs its revision from now on. */
export function succeed(pass: RolloutPass, message: string): void {
  const st = pass.state;
  st.phase = 'Succeeded';
  st.reason = 'Succeeded';
  st.message = message;
  st.finishedAt = pass.now;
  st.promote = 'none';
  st.hold = null;
  pass.actions.push({ action: 'finish', phase: 'Succeeded' });
  recordEvent(pass, 'Succeeded', message);
}

/** The current step failed: roll back (`onFailure: rollback`) or pause for an operator. */
export function failStep(pass: RolloutPass, reason: StepFailure, message: string, gate?: GateEvaluation): void {
  const st = pass.state;
  const what = `${stepLabel(pass)} failed: ${message}`;
  if (gate !== undefined && reason === 'GateFailed') pass.actions.push({ action: 'failGate', index: st.stepIndex, evaluation: gate });
  recordEvent(pass, reason, what, gate === undefined ? {} : { gate });
  if (pass.strategy.onFailure === 'rollback') {
    endRollout(pass, 'RolledBack', reason, what, gate);
    return;
  }
  st.phase = 'Paused';
  st.reason = reason;
  st.message = `${what}; paused for an operator (resume, promote, abort or undo)`;
  st.promote = 'none';
  recordEvent(pass, 'Paused', st.message);
  hold(pass, 'Paused', st.message);
}
