/**
 * The step machine. While a rollout progresses, its current step: extends its picks
 * (`cohorts.ts`); defers picked nodes unreachable for `offline.deferAfter` (another node is
 * picked in their place, so they never block the fleet); tells up to `maxParallel` nodes at
 * a time to switch, within the site budget (`site-budget.ts`); evaluates gates (`gates.ts`)
 * — a gate failing `failureThreshold` evaluations in a row stops the step at once, even
 * mid-bake; a hold lasting `maxAnalysisTime` after the bake ends it with the strategy's
 * `onFailure` — unless every gate has data and each undecided one estimates within its
 * threshold, which passes it (`analysis/time-limit.ts`). The step is reached when `minReachedPercent` of
 * its reachable (not deferred) nodes serve the new revision (the last step also needs every
 * reachable picked node told); it completes when, after that, its bake has passed and its
 * gates pass. Then the next step starts in the same plan.
 */
import { SPEED_LOOKBACK_MS } from './analysis/speed.js';
import { decideAtTimeLimit } from './analysis/time-limit.js';
import { pickOrderPositions, stepNodes } from './cohorts.js';
import { failStep, succeed } from './endings.js';
import { type GateEvaluation, judgeGates } from './gates.js';
import { hold, type RolloutPass, recordEvent, stepLabel } from './rollout-pass.js';
import { SiteBudget } from './site-budget.js';

/** Starts step `index` (0-based): fresh clocks, a fresh gate window. */
export function startStep(pass: RolloutPass, index: number): void {
  const st = pass.state;
  st.stepIndex = index;
  st.stepStartedAt = pass.now;
  st.reachedAt = null;
  st.windowStart = pass.now;
  st.lastProgressAt = pass.now;
  st.hold = null;
  st.gateStreaks = {};
  st.phase = 'Progressing';
  st.reason = 'NodesUpdating';
  const step = pass.strategy.steps[index] as (typeof pass.strategy.steps)[number];
  const scope = pass.table.scopeSize;
  const nodes = stepNodes(step.percent, scope, index === pass.strategy.steps.length - 1, pass.strategy.gates.minCanaryNodes);
  st.message = `${stepLabel(pass)}: ${step.percent} % (${nodes} of ${scope} nodes) on revision ${st.revision}`;
  pass.actions.push({ action: 'startStep', index, percent: step.percent, nodes });
  recordEvent(pass, 'StepStarted', st.message);
}

/** Moves a progressing rollout as far as this plan allows: through steps, to a hold, a failure or success. */
export function advance(pass: RolloutPass): void {
  const st = pass.state;
  const { table } = pass;
  const s = pass.strategy;
  const steps = s.steps;
  const last = steps.length - 1;
  if (table.scopeSize === 0 || st.revision === st.fromRevision) {
    succeed(pass, table.scopeSize === 0 ? 'no targeted nodes to move' : `the nodes already run revision ${st.revision}`);
    return;
  }
  if (st.promote === 'full' && st.stepIndex < last) startStep(pass, last);

  for (let guard = 0; guard <= steps.length; guard++) {
    const index = st.stepIndex;
    const step = steps[index] as (typeof steps)[number];
    const isLast = index === last;
    const want = stepNodes(step.percent, table.scopeSize, isLast, s.gates.minCanaryNodes);
    extendPicks(pass, want);
    updateDeferrals(pass);
    const blocked = assignNodes(pass);
    const t = table.tally();
    if (t.updated > st.updatedCount) st.lastProgressAt = pass.now;
    st.updatedCount = t.updated;

    const need = Math.ceil(Number(((s.minReachedPercent * t.reachable) / 100).toFixed(9)));
    if (t.failed > 0 && t.reachable - t.failed < need) {
      failStep(
        pass,
        'NodesFailed',
        `${t.failed} of ${t.reachable} reachable nodes failed revision ${st.revision}, so ${s.minReachedPercent} % cannot be reached`,
      );
      return;
    }
    let gate: GateEvaluation | null = null;
    if (st.promote === 'none') {
      gate = evaluate(pass, want);
      st.gate = gate;
      if (gate.result === 'fail') {
        failStep(pass, 'GateFailed', gate.message, gate);
        return;
      }
    }
    const reached = t.updated >= need && (!isLast || t.unassigned === 0);
    if (!reached) {
      if (pass.now - st.lastProgressAt > s.progressDeadlineMs) {
        failStep(
          pass,
          'ProgressDeadlineExceeded',
          `no node updated for ${Math.round((pass.now - st.lastProgressAt) / 60_000)} min (progressDeadline ${pass.spec.progressDeadline}); ${t.updated} of ${t.reachable} reachable nodes updated, ${need} needed`,
        );
        return;
      }
      const progress = `${t.updated} of ${t.reachable} reachable nodes on revision ${st.revision} (${need} needed${isLast ? ', and every reachable node told' : ''})`;
      if (blocked > 0) hold(pass, 'SiteLimit', `${progress}; ${blocked} nodes wait for maxUnavailablePerSite or for another node of their site to serve`);
      else hold(pass, 'NodesUpdating', progress);
      return;
    }
    if (st.reachedAt === null) {
      st.reachedAt = pass.now;
      recordEvent(pass, 'StepReached', `${stepLabel(pass)} reached: ${t.updated} of ${t.reachable} reachable nodes serve revision ${st.revision}`);
    }
    if (gate !== null) {
      const bakeEnds = st.reachedAt + step.bakeMs;
      if (pass.now < bakeEnds) {
        hold(pass, 'Baking', `${stepLabel(pass)} bakes until ${new Date(bakeEnds).toISOString()}; ${gate.message}`);
        return;
      }
      if (gate.result === 'hold') {
        // The hold's clock starts when the bake ends (or at a resume, which starts a fresh window).
        const since = Math.max(bakeEnds, st.windowStart);
        const timeUp = pass.now - since > s.maxAnalysisTimeMs;
        const atLimit = timeUp ? decideAtTimeLimit(gate.gates) : null;
        if (atLimit !== null && !atLimit.pass) {
          failStep(
            pass,
            'AnalysisTimeExceeded',
            `${atLimit.what} for ${duration(pass.now - since)} after the bake (maxAnalysisTime ${pass.spec.gates.maxAnalysisTime}): ${gate.message}`,
            gate,
          );
          return;
        }
        if (atLimit === null) {
          hold(pass, gate.reason === 'Undecided' ? 'Undecided' : 'InsufficientData', gate.message);
          return;
        }
        const message = `passed at maxAnalysisTime ${pass.spec.gates.maxAnalysisTime} after the bake: ${atLimit.message}`;
        const passed: GateEvaluation = { ...gate, result: 'pass', reason: 'GatesPassed', message };
        pass.actions.push({ action: 'passGate', index, evaluation: passed });
        recordEvent(pass, 'GatePassed', `${stepLabel(pass)}: ${message}`, { gate: passed });
      } else {
        pass.actions.push({ action: 'passGate', index, evaluation: gate });
        recordEvent(pass, 'GatePassed', `${stepLabel(pass)}: ${gate.message}`, { gate });
      }
    } else {
      recordEvent(pass, 'Promoted', `${stepLabel(pass)} completed by promote, without its bake and gates`);
    }
    if (st.promote === 'step') st.promote = 'none';
    if (isLast) {
      const deferred = t.deferred > 0 ? `; ${t.deferred} deferred nodes get it when they return` : '';
      succeed(pass, `revision ${st.revision} serves on ${t.updated} of ${t.reachable} reachable nodes${deferred}`);
      return;
    }
    startStep(pass, index + 1);
  }
}

/** Picks until `want` picked nodes of the scope count (not gone, or already updated). */
function extendPicks(pass: RolloutPass, want: number): void {
  const { table } = pass;
  const counts = (p: number): boolean => !table.isGone(p) || table.isUpdated(p);
  let have = 0;
  for (const p of table.pickedPositions()) if (table.inScope(p) && counts(p)) have++;
  if (have >= want) return;
  const among: number[] = [];
  for (let p = 0; p < table.size; p++) if (table.inScope(p)) among.push(p);
  const order = pickOrderPositions(pass.state.deployment, pass.state.revision, table.nodeList(), table.cohortIndex(), among);
  for (const p of order) {
    if (have >= want) break;
    if (table.isPicked(p)) continue;
    table.pick(p);
    if (counts(p)) have++;
  }
}

/** Defers picked nodes gone for `offline.deferAfter`; takes back those that returned (or updated). */
function updateDeferrals(pass: RolloutPass): void {
  const { table } = pass;
  const newly: number[] = [];
  const back: number[] = [];
  for (const p of table.pickedPositions()) {
    if (!table.inScope(p)) continue;
    const away = !table.isUpdated(p) && table.isGone(p);
    const deferred = table.isDeferred(p);
    if (away && !deferred) {
      table.setDeferred(p, true);
      newly.push(p);
    } else if (!away && deferred) {
      table.setDeferred(p, false);
      back.push(p);
    }
  }
  if (newly.length > 0) {
    const ids = table.idsOf(newly);
    pass.actions.push({ action: 'defer', nodeIds: ids });
    recordEvent(
      pass,
      'NodesDeferred',
      `${ids.length} picked nodes unreachable for ${pass.spec.offline.deferAfter} are deferred; they catch up when they return`,
      {
        nodeIds: ids,
      },
    );
  }
  if (back.length > 0)
    recordEvent(pass, 'NodesReturned', `${back.length} deferred nodes returned and get revision ${pass.state.revision}`, { nodeIds: table.idsOf(back) });
}

/** Tells picked nodes to switch, within maxParallel and the site budget. Returns how many wait on a site. */
function assignNodes(pass: RolloutPass): number {
  const { table } = pass;
  const candidates: number[] = [];
  const told: number[] = [];
  let inFlight = 0;
  for (const p of table.pickedPositions()) {
    if (!table.inScope(p)) continue;
    if (table.isAssigned(p)) {
      if (!table.isSettled(p) && !table.isDeferred(p)) inFlight++;
    } else if (table.isUpdated(p)) {
      // Already serves the revision: recorded as told, without taking a slot.
      table.assign(p);
      told.push(p);
    } else if (table.isOnline(p)) {
      candidates.push(p);
    }
  }
  let slots = pass.strategy.maxParallel - inFlight;
  let blocked = 0;
  if (candidates.length > 0 && slots > 0) {
    const budget = new SiteBudget(table, pass.strategy.maxUnavailablePerSite);
    for (const p of candidates) {
      if (slots <= 0) break;
      if (!budget.take(p)) {
        blocked++;
        continue;
      }
      table.assign(p);
      told.push(p);
      slots--;
    }
  }
  if (told.length > 0) pass.actions.push({ action: 'assign', nodeIds: table.idsOf(told), revision: pass.state.revision });
  return blocked;
}

/** Evaluates the step's gates and keeps their failing streaks in the state. */
/**
 * How often the gates are judged again within one window: a third of `gates.interval`, at
 * most 10 s. The planner runs every second, but a judgement reads every sample of the window
 * and bootstraps it (tens of ms for a long window of many nodes), while a verdict on minutes
 * of data moves little in a second, and failing streaks count only `interval` apart anyway.
 */
export function rejudgeAfterMs(intervalMs: number): number {
  return Math.min(intervalMs / 3, 10_000);
}

function evaluate(pass: RolloutPass, want: number): GateEvaluation {
  const st = pass.state;
  const last = st.gate;
  // An evaluation stored by a server before per-gate verdicts is judged anew.
  if (
    last !== null &&
    last.result !== 'fail' &&
    last.gates.length > 0 &&
    last.window.from === st.windowStart &&
    pass.now - last.evaluatedAt < rejudgeAfterMs(pass.strategy.gateIntervalMs)
  )
    return last;
  const { evaluation, streaks } = judgeGates({
    deployment: st.deployment,
    gates: pass.strategy.gates,
    revision: st.revision,
    baselineRevision: st.fromRevision,
    // A step that covers every node leaves none on the previous revision to compare with.
    compareWithBaseline: want < pass.table.scopeSize,
    cohortOf: pass.table.cohortIndex().of,
    cohortFamily: pass.table.cohortFamilies(),
    samples: pass.table.samplesByNode(),
    window: { from: st.windowStart, to: pass.now },
    speedFrom: st.windowStart - SPEED_LOOKBACK_MS,
    now: pass.now,
    streaks: st.gateStreaks ?? {},
    warmupMs: pass.strategy.warmupMs,
    intervalMs: pass.strategy.gateIntervalMs,
    ...(pass.aggregates === undefined ? {} : { aggregates: pass.aggregates, nodeKeys: pass.table.ids() }),
  });
  st.gateStreaks = streaks;
  return evaluation;
}

/** "1 h 5 min", "12 min", "40 s". */
function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const h = Math.floor(min / 60);
  return min % 60 === 0 ? `${h} h` : `${h} h ${min % 60} min`;
}
