/**
 * The rollout planner: (strategy, revisions, targeted nodes, persisted rollout state, stats
 * window, operator commands, now) → actions, the next state and the status. Pure and
 * synchronous: every fact arrives as data, time included, so each rule is a table test.
 *
 * One plan:
 * 1. No state yet → a rollout starts. A deployment revision other than the rollout's
 *    supersedes it: a new rollout starts over from the revision the fleet settled on (the
 *    baseline, or the old target if it had succeeded), and nodes that had got the abandoned
 *    revision go back to that baseline at once.
 * 2. Operator commands, in order (pause, resume, promote [full], abort, undo [now]).
 * 3. While progressing, the current step: extend its picks (`cohorts.ts`); defer picked
 *    nodes unreachable for `offline.deferAfter` (another node is picked in their place, so
 *    they never block the fleet); tell up to `maxParallel` nodes at a time to switch,
 *    within `maxUnavailablePerSite` and never a site's last serving node; evaluate gates
 *    (`gates.ts`) — a failure stops at once, even mid-bake. The step is reached when
 *    `minReachedPercent` of its reachable (not deferred) nodes serve the new revision (the
 *    last step also needs every reachable picked node told); it completes when, after that,
 *    its bake has passed and its gates pass. Then the next step starts in the same plan.
 * 4. Failures — a failed gate, picked nodes failing so that the step cannot be reached, no
 *    progress for `progressDeadline` while the step is not reached — roll back every node
 *    that got the new revision (`onFailure: rollback`) or pause (`onFailure: pause`).
 *
 * The state returned is to be persisted, with the plan's events, before the actions are
 * carried out; `desiredRevisions(state)` then says what every node runs.
 */
import { type ResolvedRolloutStrategy, type RolloutStrategy, resolveRolloutStrategy, siteUnavailableLimit } from '@edgefleet/protocol';
import { cohortKey, extendPicks, stepSize } from './cohorts.js';
import { evaluateGates, type GateEvaluation } from './gates.js';
import { desiredRevisions, isActive, isUndo, type RolloutState } from './state.js';
import { countNodes, isFailed, isUpdated, type RolloutStatus, rolloutStatus, servingRevision } from './status.js';
import {
  type HoldReason,
  type NodeWorkloadStats,
  type RolloutAction,
  type RolloutCommand,
  type RolloutEvent,
  type RolloutEventType,
  type RolloutNode,
  type RolloutReason,
  SITE_LABEL,
} from './types.js';

export interface RolloutPlanInput {
  deployment: string;
  /** `spec.rollout` as parsed (`RolloutStrategySchema`). May change between plans; a shorter step list clamps the current step. */
  strategy: RolloutStrategy;
  /** The deployment's current revision: what the fleet should end up on. */
  revision: number;
  /**
   * The revision the fleet runs before this rollout; read only when no rollout is persisted
   * yet (null for a deployment's first revision). Equal to `revision` to adopt a deployment
   * whose nodes already run it: the rollout succeeds at once.
   */
  fromRevision: number | null;
  /** Every node the deployment's selector targets. */
  nodes: readonly RolloutNode[];
  /** The persisted rollout state; null before the deployment's first rollout. */
  state: RolloutState | null;
  /** The deployment's stats samples covering at least `statsWindow(state)`. */
  stats: readonly NodeWorkloadStats[];
  /** Operator commands received since the last plan, oldest first. */
  commands?: readonly RolloutCommand[];
  /** ms since the epoch. */
  now: number;
}

export interface RolloutPlan {
  /** What to do, in order (see `RolloutAction`). Empty when there is nothing to do. */
  actions: RolloutAction[];
  /** The state to persist, with the events among `actions`, before acting. */
  state: RolloutState;
  status: RolloutStatus;
}

/** Plans one pass of a deployment's rollout. Pure: the input is not modified. */
export function planRollout(input: RolloutPlanInput): RolloutPlan {
  const pass = new RolloutPass(input);
  pass.run();
  return pass.result();
}

const HOLD_EVENTS: ReadonlySet<HoldReason> = new Set(['SiteLimit', 'InsufficientData']);

/** One plan's working state. Node lists live in arrays + sets while planning. */
class RolloutPass {
  private readonly s: ResolvedRolloutStrategy;
  private readonly now: number;
  private readonly byId = new Map<string, RolloutNode>();
  private readonly actions: RolloutAction[] = [];
  private st!: RolloutState;
  private picked: readonly string[] = [];
  private pickedSet = new Set<string>();
  private assigned: string[] = [];
  private assignedSet = new Set<string>();
  private deferredSet = new Set<string>();
  private rolledBackSet = new Set<string>();
  private scopeSet: Set<string> | null = null;
  private scopeNodes: readonly RolloutNode[] = [];
  private cohorts: Map<string, string> | null = null;

  constructor(private readonly input: RolloutPlanInput) {
    this.s = resolveRolloutStrategy(input.strategy);
    this.now = input.now;
    for (const n of input.nodes) this.byId.set(n.id, n);
  }

  run(): void {
    const { input } = this;
    if (input.state === null) {
      this.begin({ revision: input.revision, from: input.fromRevision, specRevision: input.revision, scope: null, events: 0 });
      this.event(
        'RolloutStarted',
        `rollout of revision ${input.revision} started from ${revisionName(input.fromRevision)} over ${input.nodes.length} targeted nodes`,
      );
      this.startStep(0);
    } else {
      this.load(input.state);
      if (input.revision !== this.st.specRevision) this.supersede();
    }
    for (const c of input.commands ?? []) this.command(c);
    if (this.st.phase === 'Progressing' || this.st.phase === 'Holding') this.advance();
    else if (this.st.phase === 'Paused') this.actions.push({ action: 'hold', reason: 'Paused', message: this.st.message });
  }

  result(): RolloutPlan {
    const state = this.save();
    const counts = countNodes(state, this.input.nodes);
    return { actions: this.actions, state, status: rolloutStatus(state, this.s.steps.length, this.input.nodes, counts) };
  }

  // ---- state ------------------------------------------------------------------------

  private begin(o: { revision: number; from: number | null; specRevision: number; scope: string[] | null; events: number }): void {
    const now = this.now;
    this.st = {
      v: 1,
      deployment: this.input.deployment,
      specRevision: o.specRevision,
      revision: o.revision,
      fromRevision: o.from,
      scope: o.scope,
      phase: 'Progressing',
      reason: 'NodesUpdating',
      message: `moving to revision ${o.revision}`,
      stepIndex: 0,
      startedAt: now,
      stepStartedAt: now,
      reachedAt: null,
      windowStart: now,
      lastProgressAt: now,
      updatedCount: 0,
      picked: [],
      assigned: [],
      deferred: [],
      rolledBack: [],
      promote: 'none',
      hold: null,
      gate: null,
      events: o.events,
      finishedAt: null,
    };
    this.picked = [];
    this.pickedSet = new Set();
    this.assigned = [];
    this.assignedSet = new Set();
    this.deferredSet = new Set();
    this.rolledBackSet = new Set();
    this.setScope(o.scope);
  }

  private load(state: RolloutState): void {
    this.st = { ...state, gate: state.gate };
    this.picked = state.picked;
    this.pickedSet = new Set(state.picked);
    this.assigned = [...state.assigned];
    this.assignedSet = new Set(state.assigned);
    this.deferredSet = new Set(state.deferred);
    this.rolledBackSet = new Set(state.rolledBack);
    this.setScope(state.scope);
    // The strategy may have been edited to fewer steps since.
    const last = this.s.steps.length - 1;
    if (this.st.stepIndex > last) this.st.stepIndex = last;
  }

  private setScope(scope: readonly string[] | null): void {
    this.scopeSet = scope === null ? null : new Set(scope);
    const set = this.scopeSet;
    this.scopeNodes = set === null ? this.input.nodes : this.input.nodes.filter((n) => set.has(n.id));
  }

  private save(): RolloutState {
    return {
      ...this.st,
      picked: [...this.picked],
      assigned: [...this.assigned],
      deferred: [...this.deferredSet],
      rolledBack: [...this.rolledBackSet],
      scope: this.st.scope === null ? null : [...this.st.scope],
    };
  }

  // ---- journal ----------------------------------------------------------------------

  private event(type: RolloutEventType, message: string, extra: { nodeIds?: string[]; gate?: GateEvaluation } = {}): void {
    const event: RolloutEvent = {
      seq: this.st.events,
      at: this.now,
      type,
      revision: this.st.revision,
      step: this.st.stepIndex + 1,
      message,
      ...(extra.nodeIds === undefined ? {} : { nodeIds: extra.nodeIds }),
      ...(extra.gate === undefined ? {} : { gate: extra.gate }),
    };
    this.st.events++;
    this.actions.push({ action: 'event', event });
  }

  private hold(reason: HoldReason, message: string): void {
    this.actions.push({ action: 'hold', reason, message });
    if (reason !== 'Paused') {
      this.st.phase = reason === 'InsufficientData' ? 'Holding' : 'Progressing';
      this.st.reason = reason;
      this.st.message = message;
    }
    // One event per step and reason worth a person's attention, however often a plan
    // flips between waiting on a site and waiting on nodes.
    if (HOLD_EVENTS.has(reason) && this.st.hold !== reason) {
      this.st.hold = reason;
      this.event('Holding', `${reason}: ${message}`);
    }
  }

  private stepLabel(): string {
    return `step ${this.st.stepIndex + 1} of ${this.s.steps.length}`;
  }

  // ---- supersede, commands ----------------------------------------------------------

  private supersede(): void {
    const old = this.save();
    const was = desiredRevisions(old);
    // The revision the fleet settled on: the old target if it succeeded or was an undo
    // (which is what the operator asked for), else the old baseline.
    const base = old.phase === 'Succeeded' || isUndo(old) ? old.revision : old.fromRevision;
    const revision = this.input.revision;
    this.event(
      'RolloutSuperseded',
      `revision ${revision} supersedes the rollout of revision ${old.revision} (${old.phase}, ${this.stepLabel()}); starting over from ${revisionName(base)}`,
    );
    this.begin({ revision, from: base, specRevision: revision, scope: null, events: this.st.events });
    const revert = this.input.nodes.filter((n) => was(n.id) !== base).map((n) => n.id);
    this.event('RolloutStarted', `rollout of revision ${revision} started from ${revisionName(base)} over ${this.input.nodes.length} targeted nodes`);
    if (revert.length > 0) {
      this.actions.push({ action: 'rollback', nodeIds: revert, toRevision: base });
      this.event('RollbackStarted', `${revert.length} nodes that got superseded revision ${old.revision} go back to ${revisionName(base)}`, {
        nodeIds: revert,
      });
    }
    this.startStep(0);
  }

  private command(c: RolloutCommand): void {
    const st = this.st;
    const by = c.by === undefined ? '' : ` by ${c.by}`;
    const ignore = (why: string): void => this.event('CommandIgnored', `${c.command}${by} ignored: ${why}`);
    const finished = `the rollout of revision ${st.revision} is ${st.phase}`;
    switch (c.command) {
      case 'pause':
        if (!isActive(st.phase)) return ignore(finished);
        if (st.phase === 'Paused') return ignore('already paused');
        st.phase = 'Paused';
        st.reason = 'PausedByOperator';
        st.message = `paused${by} at ${this.stepLabel()}`;
        this.event('Paused', st.message);
        return;
      case 'resume':
        if (st.phase !== 'Paused') return ignore(isActive(st.phase) ? 'not paused' : finished);
        this.resume();
        this.event('Resumed', `resumed${by} at ${this.stepLabel()}`);
        return;
      case 'promote':
        if (!isActive(st.phase)) return ignore(finished);
        if (st.phase === 'Paused') this.resume();
        st.promote = c.full === true || st.promote === 'full' ? 'full' : 'step';
        this.event(
          'Promoted',
          st.promote === 'full'
            ? `promoted${by}: every remaining step's bake and gates are skipped`
            : `promoted${by}: ${this.stepLabel()} completes without waiting for its bake or gates`,
        );
        return;
      case 'abort':
        if (!isActive(st.phase)) return ignore(finished);
        this.end('Aborted', 'Aborted', `aborted${by} at ${this.stepLabel()}`);
        return;
      case 'undo':
        return this.undo(c.now === true, by, ignore);
    }
  }

  private resume(): void {
    const st = this.st;
    st.phase = 'Progressing';
    st.reason = 'NodesUpdating';
    st.message = `resumed at ${this.stepLabel()}`;
    // Judge the step on fresh data, and give it a fresh deadline.
    st.windowStart = this.now;
    if (st.reachedAt !== null) st.reachedAt = this.now;
    st.lastProgressAt = this.now;
    st.hold = null;
  }

  private undo(now: boolean, by: string, ignore: (why: string) => void): void {
    const old = this.save();
    if (!(isActive(old.phase) || old.phase === 'Succeeded')) return ignore(`the rollout of revision ${old.revision} is already ${old.phase}`);
    if (old.fromRevision === null) return ignore(`revision ${old.revision} is the deployment's first: there is no previous revision (use abort to stop it)`);
    if (isUndo(old) && isActive(old.phase)) return ignore(`an undo to revision ${old.revision} is in progress (abort stops it)`);
    if (now) {
      this.end('RolledBack', 'Undone', `undone${by}: every node that got revision ${old.revision} goes back to revision ${old.fromRevision} now`);
      return;
    }
    // Back through the same steps. An unfinished rollout only moves back the nodes that got it.
    const scope = old.phase === 'Succeeded' ? null : [...old.assigned];
    this.begin({ revision: old.fromRevision, from: old.revision, specRevision: old.specRevision, scope, events: old.events });
    this.event(
      'UndoStarted',
      `undo${by}: revision ${old.fromRevision} comes back in steps over ${scope === null ? `all ${this.input.nodes.length} targeted nodes` : `the ${scope.length} nodes that got revision ${old.revision}`}`,
    );
    this.startStep(0);
  }

  /** Ends the rollout as RolledBack or Aborted: nodes that got the revision go back. */
  private end(phase: 'RolledBack' | 'Aborted', reason: RolloutReason, message: string, gate?: GateEvaluation): void {
    const was = desiredRevisions(this.save());
    const st = this.st;
    st.phase = phase;
    st.reason = reason;
    st.finishedAt = this.now;
    st.promote = 'none';
    const will = desiredRevisions(this.save());
    const back = this.input.nodes.filter((n) => was(n.id) !== will(n.id)).map((n) => n.id);
    this.rolledBackSet = new Set(back);
    st.message = `${message}; ${back.length} nodes go back to ${revisionName(st.fromRevision)}`;
    if (back.length > 0) {
      this.actions.push({ action: 'rollback', nodeIds: back, toRevision: st.fromRevision });
      this.event('RollbackStarted', `${back.length} nodes go back to ${revisionName(st.fromRevision)}: ${message}`, {
        nodeIds: back,
        ...(gate === undefined ? {} : { gate }),
      });
    }
    this.actions.push({ action: 'finish', phase });
    if (phase === 'Aborted') this.event('Aborted', st.message);
  }

  private succeed(message: string): void {
    const st = this.st;
    st.phase = 'Succeeded';
    st.reason = 'Succeeded';
    st.message = message;
    st.finishedAt = this.now;
    st.promote = 'none';
    st.hold = null;
    this.actions.push({ action: 'finish', phase: 'Succeeded' });
    this.event('Succeeded', message);
  }

  private failure(reason: 'GateFailed' | 'NodesFailed' | 'ProgressDeadlineExceeded', message: string, gate?: GateEvaluation): void {
    const st = this.st;
    const what = `${this.stepLabel()} failed: ${message}`;
    if (gate !== undefined) this.actions.push({ action: 'failGate', index: st.stepIndex, evaluation: gate });
    this.event(reason, what, gate === undefined ? {} : { gate });
    if (this.s.onFailure === 'rollback') {
      this.end('RolledBack', reason, what, gate);
      return;
    }
    st.phase = 'Paused';
    st.reason = reason;
    st.message = `${what}; paused for an operator (resume, promote, abort or undo)`;
    st.promote = 'none';
    this.event('Paused', st.message);
    this.hold('Paused', st.message);
  }

  // ---- the step machine -------------------------------------------------------------

  private startStep(index: number): void {
    const st = this.st;
    st.stepIndex = index;
    st.stepStartedAt = this.now;
    st.reachedAt = null;
    st.windowStart = this.now;
    st.lastProgressAt = this.now;
    st.hold = null;
    st.phase = 'Progressing';
    st.reason = 'NodesUpdating';
    const step = this.s.steps[index] as ResolvedRolloutStrategy['steps'][number];
    const nodes = stepSize(step.percent, this.scopeNodes.length);
    st.message = `${this.stepLabel()}: ${step.percent} % (${nodes} of ${this.scopeNodes.length} nodes) on revision ${st.revision}`;
    this.actions.push({ action: 'startStep', index, percent: step.percent, nodes });
    this.event('StepStarted', st.message);
  }

  private advance(): void {
    const st = this.st;
    const steps = this.s.steps;
    const last = steps.length - 1;
    if (this.scopeNodes.length === 0 || st.revision === st.fromRevision) {
      this.succeed(this.scopeNodes.length === 0 ? 'no targeted nodes to move' : `the nodes already run revision ${st.revision}`);
      return;
    }
    if (st.promote === 'full' && st.stepIndex < last) this.startStep(last);

    for (let guard = 0; guard <= steps.length; guard++) {
      const index = st.stepIndex;
      const step = steps[index] as ResolvedRolloutStrategy['steps'][number];
      const isLast = index === last;
      const want = stepSize(step.percent, this.scopeNodes.length);
      this.extend(want);
      this.updateDeferrals();
      const blocked = this.assign();
      const t = this.tally();
      if (t.updated > st.updatedCount) st.lastProgressAt = this.now;
      st.updatedCount = t.updated;

      const need = Math.ceil(Number(((this.s.minReachedPercent * t.reachable) / 100).toFixed(9)));
      if (t.failed > 0 && t.reachable - t.failed < need) {
        this.failure(
          'NodesFailed',
          `${t.failed} of ${t.reachable} reachable nodes failed revision ${st.revision}, so ${this.s.minReachedPercent} % cannot be reached`,
        );
        return;
      }
      let gate: GateEvaluation | null = null;
      if (st.promote === 'none') {
        gate = this.evaluate(want);
        st.gate = gate;
        if (gate.result === 'fail') {
          this.failure('GateFailed', gate.message, gate);
          return;
        }
      }
      const reached = t.updated >= need && (!isLast || t.unassigned === 0);
      if (!reached) {
        if (this.now - st.lastProgressAt > this.s.progressDeadlineMs) {
          this.failure(
            'ProgressDeadlineExceeded',
            `no node updated for ${Math.round((this.now - st.lastProgressAt) / 60_000)} min (progressDeadline ${this.input.strategy.progressDeadline}); ${t.updated} of ${t.reachable} reachable nodes updated, ${need} needed`,
          );
          return;
        }
        const progress = `${t.updated} of ${t.reachable} reachable nodes on revision ${st.revision} (${need} needed${isLast ? ', and every reachable node told' : ''})`;
        if (blocked > 0) this.hold('SiteLimit', `${progress}; ${blocked} nodes wait for maxUnavailablePerSite or for another node of their site to serve`);
        else this.hold('NodesUpdating', progress);
        return;
      }
      if (st.reachedAt === null) {
        st.reachedAt = this.now;
        this.event('StepReached', `${this.stepLabel()} reached: ${t.updated} of ${t.reachable} reachable nodes serve revision ${st.revision}`);
      }
      if (st.promote === 'none' && gate !== null) {
        const bakeEnds = st.reachedAt + step.bakeMs;
        if (this.now < bakeEnds) {
          this.hold('Baking', `${this.stepLabel()} bakes until ${new Date(bakeEnds).toISOString()}; ${gate.message}`);
          return;
        }
        if (gate.result === 'hold') {
          this.hold('InsufficientData', gate.message);
          return;
        }
        this.actions.push({ action: 'passGate', index, evaluation: gate });
        this.event('GatePassed', `${this.stepLabel()}: ${gate.message}`, { gate });
      } else {
        this.event('Promoted', `${this.stepLabel()} completed by promote, without its bake and gates`);
      }
      if (st.promote === 'step') st.promote = 'none';
      if (isLast) {
        const deferred = t.deferred > 0 ? `; ${t.deferred} deferred nodes get it when they return` : '';
        this.succeed(`revision ${st.revision} serves on ${t.updated} of ${t.reachable} reachable nodes${deferred}`);
        return;
      }
      this.startStep(index + 1);
    }
  }

  // ---- nodes --------------------------------------------------------------------------

  private longOffline(n: RolloutNode): boolean {
    return !n.online && (n.lastSeen === null || this.now - n.lastSeen >= this.s.deferAfterMs);
  }

  private inScope(id: string): boolean {
    return this.scopeSet === null || this.scopeSet.has(id);
  }

  private extend(want: number): void {
    const next = extendPicks({
      deployment: this.st.deployment,
      revision: this.st.revision,
      nodes: this.scopeNodes,
      cohortBy: this.s.cohortBy,
      picked: this.picked,
      want,
      counts: (id) => {
        const n = this.byId.get(id);
        return n !== undefined && (!this.longOffline(n) || isUpdated(n, this.st.revision));
      },
    });
    if (next === this.picked) return;
    for (let i = this.picked.length; i < next.length; i++) this.pickedSet.add(next[i] as string);
    this.picked = next;
  }

  private updateDeferrals(): void {
    const newly: string[] = [];
    const back: string[] = [];
    const revision = this.st.revision;
    for (const id of this.picked) {
      const n = this.byId.get(id);
      if (n === undefined || !this.inScope(id)) continue;
      const away = !isUpdated(n, revision) && this.longOffline(n);
      if (away && !this.deferredSet.has(id)) {
        this.deferredSet.add(id);
        newly.push(id);
      } else if (!away && this.deferredSet.has(id)) {
        this.deferredSet.delete(id);
        back.push(id);
      }
    }
    if (newly.length > 0) {
      this.actions.push({ action: 'defer', nodeIds: newly });
      this.event(
        'NodesDeferred',
        `${newly.length} picked nodes unreachable for ${this.input.strategy.offline.deferAfter} are deferred; they catch up when they return`,
        {
          nodeIds: newly,
        },
      );
    }
    if (back.length > 0) this.event('NodesReturned', `${back.length} deferred nodes returned and get revision ${revision}`, { nodeIds: back });
  }

  /** Tells picked nodes to switch, within maxParallel and the per-site limits. Returns how many wait on a site. */
  private assign(): number {
    const revision = this.st.revision;
    const candidates: RolloutNode[] = [];
    const already: string[] = [];
    let inFlight = 0;
    for (const id of this.picked) {
      const n = this.byId.get(id);
      if (n === undefined || !this.inScope(id)) continue;
      if (this.assignedSet.has(id)) {
        if (!isUpdated(n, revision) && !isFailed(n, revision) && !this.deferredSet.has(id)) inFlight++;
      } else if (isUpdated(n, revision)) {
        already.push(id);
      } else if (n.online) {
        candidates.push(n);
      }
    }
    // Nodes that already serve the revision are recorded as told, without taking a slot.
    const newly: string[] = [];
    for (const id of already) {
      this.markAssigned(id);
      newly.push(id);
    }
    let slots = this.s.maxParallel - inFlight;
    if (candidates.length === 0 || slots <= 0) {
      if (newly.length > 0) this.actions.push({ action: 'assign', nodeIds: newly, revision });
      return 0;
    }

    // Per-site availability over every targeted node of the deployment. Nodes gone for
    // deferAfter do not count: a dead node must not hold its site back forever.
    const members = new Map<string, number>();
    const servingFree = new Map<string, number>();
    const unavailable = new Map<string, number>();
    const needSites = candidates.some((n) => n.labels[SITE_LABEL] !== undefined);
    if (needSites) {
      for (const n of this.input.nodes) {
        const site = n.labels[SITE_LABEL];
        if (site === undefined || this.longOffline(n)) continue;
        members.set(site, (members.get(site) ?? 0) + 1);
        const switching = this.assignedSet.has(n.id) && !isUpdated(n, revision) && !isFailed(n, revision);
        if (n.online && servingRevision(n.workload) !== null && !switching) servingFree.set(site, (servingFree.get(site) ?? 0) + 1);
        else unavailable.set(site, (unavailable.get(site) ?? 0) + 1);
      }
    }
    let blocked = 0;
    for (const n of candidates) {
      if (slots <= 0) break;
      const site = n.labels[SITE_LABEL];
      const serving = servingRevision(n.workload) !== null;
      // A node that serves nothing loses nothing by switching; only serving nodes count against the site.
      if (serving && site !== undefined) {
        const size = members.get(site) ?? 1;
        const down = unavailable.get(site) ?? 0;
        const free = servingFree.get(site) ?? 0;
        const limit = siteUnavailableLimit(this.s.maxUnavailablePerSite, size);
        const lastServing = free <= 1 && size > 1;
        if (down + 1 > limit || lastServing) {
          blocked++;
          continue;
        }
        unavailable.set(site, down + 1);
        servingFree.set(site, free - 1);
      }
      newly.push(n.id);
      this.markAssigned(n.id);
      slots--;
    }
    if (newly.length > 0) this.actions.push({ action: 'assign', nodeIds: newly, revision });
    return blocked;
  }

  private markAssigned(id: string): void {
    this.assignedSet.add(id);
    this.assigned.push(id);
  }

  private tally(): { reachable: number; updated: number; failed: number; unassigned: number; deferred: number } {
    const revision = this.st.revision;
    const t = { reachable: 0, updated: 0, failed: 0, unassigned: 0, deferred: 0 };
    for (const id of this.picked) {
      const n = this.byId.get(id);
      if (n === undefined || !this.inScope(id)) continue;
      if (this.deferredSet.has(id)) {
        t.deferred++;
        continue;
      }
      t.reachable++;
      if (isUpdated(n, revision)) t.updated++;
      else if (isFailed(n, revision)) t.failed++;
      if (!this.assignedSet.has(id)) t.unassigned++;
    }
    return t;
  }

  private evaluate(want: number): GateEvaluation {
    if (this.cohorts === null) {
      this.cohorts = new Map();
      for (const n of this.input.nodes) this.cohorts.set(n.id, cohortKey(n.labels, this.s.cohortBy));
    }
    return evaluateGates({
      deployment: this.st.deployment,
      gates: this.s.gates,
      revision: this.st.revision,
      baselineRevision: this.st.fromRevision,
      // A step that covers every node leaves none on the previous revision to compare with.
      compareWithBaseline: want < this.scopeNodes.length,
      cohortOf: this.cohorts,
      samples: this.input.stats,
      window: { from: this.st.windowStart, to: this.now },
      now: this.now,
    });
  }
}

function revisionName(revision: number | null): string {
  return revision === null ? 'no previous revision' : `revision ${revision}`;
}
