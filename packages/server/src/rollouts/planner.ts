/**
 * The rollout planner: (strategy, revisions, targeted nodes with what they report and their
 * stats, persisted rollout state, operator commands, now) → actions, the next state and the
 * status. Pure and synchronous: every fact arrives as data, time included, so each rule is a
 * table test.
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
 *
 * Cost: linear in nodes and samples; 100,000 nodes plan in a few hundred milliseconds at
 * worst (`bench/plan.ts`). Build `RolloutNode`s as plain object literals of one shape: V8
 * reads copies made with object spread much more slowly.
 */
import { type ResolvedRolloutStrategy, type RolloutStrategy, resolveRolloutStrategy, siteUnavailableLimit, type WorkloadStats } from '@edgefleet/protocol';
import { type CohortIndex, CohortNumbering, cohortIndex, pickOrderPositions, stepSize } from './cohorts.js';
import { evaluateGates, type GateEvaluation } from './gates.js';
import { isActive, isUndo, type RolloutState } from './state.js';
import { type RolloutNodeCounts, type RolloutStatus, rolloutStatus, servingRevision } from './status.js';
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
  /**
   * Stats samples as a flat list, for callers that have them so (a store query). Attaching
   * them to their nodes (`RolloutNode.stats`) instead saves the planner a join by node id;
   * both may be used at once.
   */
  stats?: readonly NodeWorkloadStats[];
  /** Operator commands received since the last plan, oldest first. */
  commands?: readonly RolloutCommand[];
  /** ms since the epoch. */
  now: number;
}

export interface RolloutPlan {
  /** What to do, in order (see `RolloutAction`). Empty when there is nothing to do. */
  actions: RolloutAction[];
  /**
   * The state to persist, with the events among `actions`, before acting. Lists that did not
   * change are the input state's own arrays (the planner never modifies either).
   */
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
const BROKEN: ReadonlySet<string> = new Set(['failed', 'verification-failed']);

// Per node position, what the rollout state says (`mark`)…
const PICKED = 1;
const ASSIGNED = 2;
const DEFERRED = 4;
const ROLLED_BACK = 8;
const SCOPE = 16;
// …and what the node reports, for the rollout's revision (`fact`).
const UPDATED = 1;
const FAILED = 2;
const SERVING = 4;
const ONLINE = 8;
const GONE = 16; // offline for at least deferAfter

type Step = ResolvedRolloutStrategy['steps'][number];

/**
 * One plan's working state. Nodes are addressed by their position in `input.nodes`; the
 * persisted id lists are joined to positions once, and every rule then runs over typed
 * arrays, so a plan over 100,000 nodes hashes each id about once.
 */
class RolloutPass {
  private readonly s: ResolvedRolloutStrategy;
  private readonly now: number;
  private readonly nodes: readonly RolloutNode[];
  private readonly n: number;
  /** Node id → position; built only for a flat `input.stats` list. */
  private index: Map<string, number> | null = null;
  private readonly actions: RolloutAction[] = [];
  private readonly mark: Uint8Array;
  private readonly fact: Uint8Array;
  private factRevision: number | undefined;
  private st!: RolloutState;
  /** Persisted picks (ids, targeted or not) and the targeted ones' positions, in pick order. */
  private pickedIds: readonly string[] = [];
  private pickedPos: number[] = [];
  private assignedIds: readonly string[] = [];
  private rolledBackIds: readonly string[] = [];
  private scopeCount = 0;
  private cohorts: CohortIndex | null = null;
  private samples: (readonly WorkloadStats[] | undefined)[] | null = null;
  private flatJoined = false;
  private siteOf: Int32Array | null = null;
  private sites = 0;

  constructor(private readonly input: RolloutPlanInput) {
    this.s = resolveRolloutStrategy(input.strategy);
    this.now = input.now;
    this.nodes = input.nodes;
    this.n = input.nodes.length;
    this.mark = new Uint8Array(this.n);
    this.fact = new Uint8Array(this.n);
    this.scan();
  }

  /**
   * One pass over the nodes that reads each node once (on a big fleet every pass over
   * 100,000 node objects costs more in memory traffic than in work): joins the persisted
   * id lists to positions, and takes what nodes report for the rollout's revision, their
   * cohort and site (unless the rollout is over and stays so) and their stats.
   */
  private scan(): void {
    const { input } = this;
    const state = input.state;
    const moving = state === null || isActive(state.phase) || input.revision !== state.specRevision || (input.commands?.length ?? 0) > 0;
    const known = state === null ? null : knownIds(state);
    const byRank = new Int32Array(state?.picked.length ?? 0).fill(-1);
    const revision = state?.revision ?? input.revision;
    const numbering = moving ? new CohortNumbering(this.s.cohortBy) : null;
    const cohortOf = new Int32Array(moving ? this.n : 0);
    const sites = new Map<string, number>();
    const siteOf = new Int32Array(moving ? this.n : 0);
    const samples: (readonly WorkloadStats[] | undefined)[] = new Array(this.n);
    for (let p = 0; p < this.n; p++) {
      const node = this.nodes[p] as RolloutNode;
      if (known !== null) {
        const v = known.get(node.id);
        if (v !== undefined) {
          this.mark[p] = v & 31;
          if (v >> 5 > 0) byRank[(v >> 5) - 1] = p;
        }
      }
      this.fact[p] = this.factOf(node, revision);
      samples[p] = node.stats;
      if (numbering !== null) {
        cohortOf[p] = numbering.number(node.labels);
        const site = node.labels[SITE_LABEL];
        if (site === undefined) siteOf[p] = -1;
        else {
          let number = sites.get(site);
          if (number === undefined) {
            number = sites.size;
            sites.set(site, number);
          }
          siteOf[p] = number;
        }
      }
    }
    this.factRevision = revision;
    for (const p of byRank) if (p >= 0) this.pickedPos.push(p);
    this.samples = samples;
    if (numbering !== null) {
      this.cohorts = numbering.index(cohortOf);
      this.siteOf = siteOf;
      this.sites = sites.size;
    }
  }

  run(): void {
    const { input } = this;
    if (input.state === null) {
      this.begin({ revision: input.revision, from: input.fromRevision, specRevision: input.revision, scope: null, events: 0 });
      this.event('RolloutStarted', `rollout of revision ${input.revision} started from ${revisionName(input.fromRevision)} over ${this.n} targeted nodes`);
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
    return { actions: this.actions, state, status: rolloutStatus(state, this.s.steps.length, this.nodes, this.counts()) };
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
    this.mark.fill(0);
    this.pickedIds = [];
    this.pickedPos = [];
    this.assignedIds = [];
    this.rolledBackIds = [];
    this.setScope(o.scope);
  }

  private load(state: RolloutState): void {
    this.st = { ...state };
    // Lists are shared with the input until changed (copy on write; the input is never
    // modified); `scan` joined them to node positions.
    this.pickedIds = state.picked;
    this.assignedIds = state.assigned;
    this.rolledBackIds = state.rolledBack;
    this.countScope(state.scope === null);
    // The strategy may have been edited to fewer steps since.
    const last = this.s.steps.length - 1;
    if (this.st.stepIndex > last) this.st.stepIndex = last;
  }

  private setScope(scope: readonly string[] | null): void {
    const ids = scope === null ? null : new Set(scope);
    for (let p = 0; p < this.n; p++) {
      const m = (this.mark[p] as number) & ~SCOPE;
      this.mark[p] = ids === null || ids.has((this.nodes[p] as RolloutNode).id) ? m | SCOPE : m;
    }
    this.countScope(false);
  }

  /** Counts the nodes in scope; `all`: every node is (a rollout without a scope). */
  private countScope(all: boolean): void {
    if (all) for (let p = 0; p < this.n; p++) this.mark[p] = (this.mark[p] as number) | SCOPE;
    this.scopeCount = 0;
    for (let p = 0; p < this.n; p++) if ((this.mark[p] as number) & SCOPE) this.scopeCount++;
  }

  private save(): RolloutState {
    const deferred: string[] = [];
    for (let p = 0; p < this.n; p++) if ((this.mark[p] as number) & DEFERRED) deferred.push((this.nodes[p] as RolloutNode).id);
    return {
      ...this.st,
      picked: this.pickedIds as string[],
      assigned: this.assignedIds as string[],
      deferred,
      rolledBack: this.rolledBackIds as string[],
      scope: this.st.scope === null ? null : [...this.st.scope],
    };
  }

  /** What nodes report, for the rollout's current revision (recomputed when it changes). */
  private facts(): Uint8Array {
    const revision = this.st.revision;
    if (this.factRevision !== revision) {
      for (let p = 0; p < this.n; p++) this.fact[p] = this.factOf(this.nodes[p] as RolloutNode, revision);
      this.factRevision = revision;
    }
    return this.fact;
  }

  private factOf(node: RolloutNode, revision: number): number {
    const w = node.workload;
    const serving = servingRevision(w);
    let f = 0;
    if (serving === revision) f |= UPDATED;
    else if (w !== null && w.revision === revision && BROKEN.has(w.state)) f |= FAILED;
    if (node.online) {
      f |= ONLINE;
      if (serving !== null) f |= SERVING;
    } else if (node.lastSeen === null || this.now - node.lastSeen >= this.s.deferAfterMs) {
      f |= GONE;
    }
    return f;
  }

  /**
   * The revision the node at `p` runs under `phase` (see `desiredRevisions`, which says the
   * same from a persisted state).
   */
  private desiredAt(p: number, phase: RolloutState['phase']): number | null {
    const st = this.st;
    if (phase === 'Succeeded') return st.revision;
    const m = this.mark[p] as number;
    const base = st.scope !== null && (m & SCOPE) === 0 ? st.revision : st.fromRevision;
    if (phase === 'RolledBack' || phase === 'Aborted') return base;
    return m & ASSIGNED ? st.revision : base;
  }

  private idsOf(positions: readonly number[]): string[] {
    return positions.map((p) => (this.nodes[p] as RolloutNode).id);
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

  // ---- supersede, commands, endings ---------------------------------------------------

  private supersede(): void {
    const old = this.st;
    // The revision the fleet settled on: the old target if it succeeded or was an undo
    // (which is what the operator asked for), else the old baseline.
    const base = old.phase === 'Succeeded' || isUndo(old) ? old.revision : old.fromRevision;
    const revert: number[] = [];
    for (let p = 0; p < this.n; p++) if (this.desiredAt(p, old.phase) !== base) revert.push(p);
    const revision = this.input.revision;
    this.event(
      'RolloutSuperseded',
      `revision ${revision} supersedes the rollout of revision ${old.revision} (${old.phase}, ${this.stepLabel()}); starting over from ${revisionName(base)}`,
    );
    this.begin({ revision, from: base, specRevision: revision, scope: null, events: this.st.events });
    this.event('RolloutStarted', `rollout of revision ${revision} started from ${revisionName(base)} over ${this.n} targeted nodes`);
    if (revert.length > 0) {
      const ids = this.idsOf(revert);
      this.actions.push({ action: 'rollback', nodeIds: ids, toRevision: base });
      this.event('RollbackStarted', `${ids.length} nodes that got superseded revision ${old.revision} go back to ${revisionName(base)}`, { nodeIds: ids });
    }
    this.startStep(0);
  }

  private command(c: RolloutCommand): void {
    const st = this.st;
    const by = c.by === undefined ? '' : ` by ${c.by}`;
    const why = this.whyIgnored(c);
    if (why !== undefined) {
      this.event('CommandIgnored', `${c.command}${by} ignored: ${why}`);
      return;
    }
    switch (c.command) {
      case 'pause':
        st.phase = 'Paused';
        st.reason = 'PausedByOperator';
        st.message = `paused${by} at ${this.stepLabel()}`;
        this.event('Paused', st.message);
        return;
      case 'resume':
        this.resume();
        this.event('Resumed', `resumed${by} at ${this.stepLabel()}`);
        return;
      case 'promote':
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
        this.end('Aborted', 'Aborted', `aborted${by} at ${this.stepLabel()}`);
        return;
      case 'undo':
        this.undo(c.now === true, by);
        return;
    }
  }

  /** Why a command does not apply to the rollout as it is, if it does not. */
  private whyIgnored(c: RolloutCommand): string | undefined {
    const st = this.st;
    const finished = `the rollout of revision ${st.revision} is ${st.phase}`;
    switch (c.command) {
      case 'pause':
        if (!isActive(st.phase)) return finished;
        return st.phase === 'Paused' ? 'already paused' : undefined;
      case 'resume':
        if (st.phase === 'Paused') return undefined;
        return isActive(st.phase) ? 'not paused' : finished;
      case 'promote':
      case 'abort':
        return isActive(st.phase) ? undefined : finished;
      case 'undo':
        if (!(isActive(st.phase) || st.phase === 'Succeeded')) return `the rollout of revision ${st.revision} is already ${st.phase}`;
        if (st.fromRevision === null) return `revision ${st.revision} is the deployment's first: there is no previous revision (use abort to stop it)`;
        if (isUndo(st) && isActive(st.phase)) return `an undo to revision ${st.revision} is in progress (abort stops it)`;
        return undefined;
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

  /** Undo (already checked to apply): back to the previous revision, in steps or at once. */
  private undo(now: boolean, by: string): void {
    const old = this.st;
    const previous = old.fromRevision as number;
    if (now) {
      this.end('RolledBack', 'Undone', `undone${by}: every node that got revision ${old.revision} goes back to revision ${previous} now`);
      return;
    }
    // Back through the same steps. An unfinished rollout only moves back the nodes that got it.
    const scope = old.phase === 'Succeeded' ? null : [...this.assignedIds];
    this.begin({ revision: previous, from: old.revision, specRevision: old.specRevision, scope, events: old.events });
    this.event(
      'UndoStarted',
      `undo${by}: revision ${previous} comes back in steps over ${scope === null ? `all ${this.n} targeted nodes` : `the ${this.scopeCount} nodes that got revision ${old.revision}`}`,
    );
    this.startStep(0);
  }

  /** Ends the rollout as RolledBack or Aborted: nodes that got the revision go back. */
  private end(phase: 'RolledBack' | 'Aborted', reason: RolloutReason, message: string, gate?: GateEvaluation): void {
    const st = this.st;
    const back: number[] = [];
    for (let p = 0; p < this.n; p++) {
      this.mark[p] = (this.mark[p] as number) & ~ROLLED_BACK;
      if (this.desiredAt(p, st.phase) !== this.desiredAt(p, phase)) {
        back.push(p);
        this.mark[p] = (this.mark[p] as number) | ROLLED_BACK;
      }
    }
    const ids = this.idsOf(back);
    this.rolledBackIds = ids;
    st.phase = phase;
    st.reason = reason;
    st.finishedAt = this.now;
    st.promote = 'none';
    st.message = `${message}; ${ids.length} nodes go back to ${revisionName(st.fromRevision)}`;
    if (ids.length > 0) {
      this.actions.push({ action: 'rollback', nodeIds: ids, toRevision: st.fromRevision });
      this.event('RollbackStarted', `${ids.length} nodes go back to ${revisionName(st.fromRevision)}: ${message}`, {
        nodeIds: ids,
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
    const step = this.s.steps[index] as Step;
    const nodes = stepSize(step.percent, this.scopeCount);
    st.message = `${this.stepLabel()}: ${step.percent} % (${nodes} of ${this.scopeCount} nodes) on revision ${st.revision}`;
    this.actions.push({ action: 'startStep', index, percent: step.percent, nodes });
    this.event('StepStarted', st.message);
  }

  private advance(): void {
    const st = this.st;
    const steps = this.s.steps;
    const last = steps.length - 1;
    if (this.scopeCount === 0 || st.revision === st.fromRevision) {
      this.succeed(this.scopeCount === 0 ? 'no targeted nodes to move' : `the nodes already run revision ${st.revision}`);
      return;
    }
    if (st.promote === 'full' && st.stepIndex < last) this.startStep(last);

    for (let guard = 0; guard <= steps.length; guard++) {
      const index = st.stepIndex;
      const step = steps[index] as Step;
      const isLast = index === last;
      const want = stepSize(step.percent, this.scopeCount);
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
      if (gate !== null) {
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

  private cohortsOfNodes(): CohortIndex {
    if (this.cohorts === null) this.cohorts = cohortIndex(this.nodes, this.s.cohortBy);
    return this.cohorts;
  }

  /** Picks until `want` picked nodes of the scope count (not gone, or already updated). */
  private extend(want: number): void {
    const fact = this.facts();
    const counts = (p: number): boolean => ((fact[p] as number) & GONE) === 0 || ((fact[p] as number) & UPDATED) !== 0;
    let have = 0;
    for (const p of this.pickedPos) if ((this.mark[p] as number) & SCOPE && counts(p)) have++;
    if (have >= want) return;
    const among: number[] = [];
    for (let p = 0; p < this.n; p++) if ((this.mark[p] as number) & SCOPE) among.push(p);
    const order = pickOrderPositions(this.st.deployment, this.st.revision, this.nodes, this.cohortsOfNodes(), among);
    for (const p of order) {
      if (have >= want) break;
      if ((this.mark[p] as number) & PICKED) continue;
      this.mark[p] = (this.mark[p] as number) | PICKED;
      this.pickedPos.push(p);
      this.pickedIds = appended(this.pickedIds, (this.nodes[p] as RolloutNode).id, this.input.state?.picked);
      if (counts(p)) have++;
    }
  }

  private updateDeferrals(): void {
    const fact = this.facts();
    const newly: number[] = [];
    const back: number[] = [];
    for (const p of this.pickedPos) {
      const m = this.mark[p] as number;
      if ((m & SCOPE) === 0) continue;
      const f = fact[p] as number;
      const away = (f & UPDATED) === 0 && (f & GONE) !== 0;
      if (away && (m & DEFERRED) === 0) {
        this.mark[p] = m | DEFERRED;
        newly.push(p);
      } else if (!away && (m & DEFERRED) !== 0) {
        this.mark[p] = m & ~DEFERRED;
        back.push(p);
      }
    }
    if (newly.length > 0) {
      const ids = this.idsOf(newly);
      this.actions.push({ action: 'defer', nodeIds: ids });
      this.event(
        'NodesDeferred',
        `${ids.length} picked nodes unreachable for ${this.input.strategy.offline.deferAfter} are deferred; they catch up when they return`,
        {
          nodeIds: ids,
        },
      );
    }
    if (back.length > 0)
      this.event('NodesReturned', `${back.length} deferred nodes returned and get revision ${this.st.revision}`, { nodeIds: this.idsOf(back) });
  }

  /** Tells picked nodes to switch, within maxParallel and the per-site limits. Returns how many wait on a site. */
  private assign(): number {
    const fact = this.facts();
    const candidates: number[] = [];
    const told: number[] = [];
    let inFlight = 0;
    for (const p of this.pickedPos) {
      const m = this.mark[p] as number;
      if ((m & SCOPE) === 0) continue;
      const f = fact[p] as number;
      if (m & ASSIGNED) {
        if ((f & (UPDATED | FAILED)) === 0 && (m & DEFERRED) === 0) inFlight++;
      } else if (f & UPDATED) {
        // Already serves the revision: recorded as told, without taking a slot.
        this.markAssigned(p);
        told.push(p);
      } else if (f & ONLINE) {
        candidates.push(p);
      }
    }
    let slots = this.s.maxParallel - inFlight;
    let blocked = 0;
    if (candidates.length > 0 && slots > 0) {
      // Per-site availability over every targeted node. Nodes gone for deferAfter do not
      // count: a dead node must not hold its site back forever.
      const siteOf = this.siteIndex();
      const members = new Int32Array(this.sites);
      const free = new Int32Array(this.sites);
      const down = new Int32Array(this.sites);
      for (let p = 0; p < this.n; p++) {
        const site = siteOf[p] as number;
        const f = fact[p] as number;
        if (site < 0 || f & GONE) continue;
        members[site] = (members[site] as number) + 1;
        const switching = (this.mark[p] as number) & ASSIGNED && (f & (UPDATED | FAILED)) === 0;
        if (f & SERVING && !switching) free[site] = (free[site] as number) + 1;
        else down[site] = (down[site] as number) + 1;
      }
      for (const p of candidates) {
        if (slots <= 0) break;
        const site = siteOf[p] as number;
        // A node that serves nothing loses nothing by switching; only serving nodes count against their site.
        if ((fact[p] as number) & SERVING && site >= 0) {
          const size = members[site] as number;
          const limit = siteUnavailableLimit(this.s.maxUnavailablePerSite, size);
          const lastServing = (free[site] as number) <= 1 && size > 1;
          if ((down[site] as number) + 1 > limit || lastServing) {
            blocked++;
            continue;
          }
          down[site] = (down[site] as number) + 1;
          free[site] = (free[site] as number) - 1;
        }
        this.markAssigned(p);
        told.push(p);
        slots--;
      }
    }
    if (told.length > 0) this.actions.push({ action: 'assign', nodeIds: this.idsOf(told), revision: this.st.revision });
    return blocked;
  }

  private siteIndex(): Int32Array {
    if (this.siteOf !== null) return this.siteOf;
    const numbers = new Map<string, number>();
    const siteOf = new Int32Array(this.n);
    for (let p = 0; p < this.n; p++) {
      const site = (this.nodes[p] as RolloutNode).labels[SITE_LABEL];
      if (site === undefined) {
        siteOf[p] = -1;
        continue;
      }
      let s = numbers.get(site);
      if (s === undefined) {
        s = numbers.size;
        numbers.set(site, s);
      }
      siteOf[p] = s;
    }
    this.sites = numbers.size;
    this.siteOf = siteOf;
    return siteOf;
  }

  private markAssigned(p: number): void {
    this.mark[p] = (this.mark[p] as number) | ASSIGNED;
    this.assignedIds = appended(this.assignedIds, (this.nodes[p] as RolloutNode).id, this.input.state?.assigned);
  }

  private tally(): { reachable: number; updated: number; failed: number; unassigned: number; deferred: number } {
    const fact = this.facts();
    const t = { reachable: 0, updated: 0, failed: 0, unassigned: 0, deferred: 0 };
    for (const p of this.pickedPos) {
      const m = this.mark[p] as number;
      if ((m & SCOPE) === 0) continue;
      if (m & DEFERRED) {
        t.deferred++;
        continue;
      }
      t.reachable++;
      const f = fact[p] as number;
      if (f & UPDATED) t.updated++;
      else if (f & FAILED) t.failed++;
      if ((m & ASSIGNED) === 0) t.unassigned++;
    }
    return t;
  }

  private evaluate(want: number): GateEvaluation {
    return evaluateGates({
      deployment: this.st.deployment,
      gates: this.s.gates,
      revision: this.st.revision,
      baselineRevision: this.st.fromRevision,
      // A step that covers every node leaves none on the previous revision to compare with.
      compareWithBaseline: want < this.scopeCount,
      cohortOf: this.cohortsOfNodes().of,
      samples: this.samplesByNode(),
      window: { from: this.st.windowStart, to: this.now },
      now: this.now,
    });
  }

  private positions(): Map<string, number> {
    if (this.index === null) {
      this.index = new Map();
      for (let p = 0; p < this.n; p++) this.index.set((this.nodes[p] as RolloutNode).id, p);
    }
    return this.index;
  }

  /** Each node's samples by position: its own `stats`, plus the flat `input.stats` joined by node id. */
  private samplesByNode(): ArrayLike<readonly WorkloadStats[] | undefined> {
    const out = this.samples ?? this.nodes.map((n) => n.stats);
    this.samples = out;
    const flat = this.input.stats ?? [];
    if (flat.length > 0 && !this.flatJoined) {
      this.flatJoined = true;
      const index = this.positions();
      // Lists made here may grow in place; a node's own list is copied before it grows.
      const ours = new Uint8Array(this.n);
      for (const s of flat) {
        const p = index.get(s.nodeId);
        if (p === undefined) continue;
        const list = out[p];
        if (list !== undefined && ours[p] === 1) (list as WorkloadStats[]).push(s);
        else {
          out[p] = list === undefined ? [s] : [...list, s];
          ours[p] = 1;
        }
      }
    }
    return out;
  }

  /** Status counts (the same rules as `countNodes`, over the flags). */
  private counts(): RolloutNodeCounts {
    const fact = this.facts();
    const c: RolloutNodeCounts = { total: this.n, updated: 0, pending: 0, deferred: 0, failed: 0, rolledBack: 0 };
    for (let p = 0; p < this.n; p++) {
      const m = this.mark[p] as number;
      const f = fact[p] as number;
      if (m & ROLLED_BACK) c.rolledBack++;
      else if (f & UPDATED) c.updated++;
      else if (f & FAILED) c.failed++;
      else if (m & DEFERRED && (f & ONLINE) === 0) c.deferred++;
      else c.pending++;
    }
    return c;
  }
}

/** The persisted ids of a state → mark bits | (pick rank + 1) << 5, to join them to nodes in one probe each. */
function knownIds(state: RolloutState): Map<string, number> {
  const known = new Map<string, number>();
  const picked = state.picked;
  for (let rank = 0; rank < picked.length; rank++) {
    const id = picked[rank] as string;
    if (!known.has(id)) known.set(id, PICKED | ((rank + 1) << 5));
  }
  const add = (ids: readonly string[], bit: number): void => {
    for (const id of ids) known.set(id, (known.get(id) ?? 0) | bit);
  };
  add(state.assigned, ASSIGNED);
  add(state.deferred, DEFERRED);
  add(state.rolledBack, ROLLED_BACK);
  if (state.scope !== null) add(state.scope, SCOPE);
  return known;
}

/** `list` with `id` appended: copied first if it is the input's own array, else in place. */
function appended(list: readonly string[], id: string, input: readonly string[] | undefined): string[] {
  const own = list === input ? [...list] : (list as string[]);
  own.push(id);
  return own;
}

function revisionName(revision: number | null): string {
  return revision === null ? 'no previous revision' : `revision ${revision}`;
}
