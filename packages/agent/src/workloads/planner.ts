import type { Release, WorkloadState, WorkloadStatus } from '@edgefleet/protocol';
import {
  artifactOfPart,
  formatImageReference,
  imageOfPart,
  parseDuration,
  parseImageReference,
  releaseArtifacts,
  releaseEnvProblem,
  releaseImages,
} from '@edgefleet/protocol';
import { restartDelayMs } from './retry-delays.js';
import { decideSitePorts, type SitePortClaim, type SitePortVerdict } from './site-ports.js';
import type { FailureRecord, InstanceFailure, LocalWorkload, ModelChoice, Plan, PlanInput, Step, StopCause, VerifiedWorkload } from './types.js';

/**
 * The agent's planner: (desired, observed) → steps, with no I/O and no clock of its own.
 * It is called on every tick; an empty step list means the node has converged. All the
 * decisions live here (which model to run, when to switch, when to give up on a revision);
 * the supervisor only carries them out and records what happened.
 */
export function plan(input: PlanInput): Plan {
  const steps: Step[] = [];
  const statuses: WorkloadStatus[] = [];
  const desiredNames = new Set(input.desired.map((d) => d.deployment));
  const sitePorts = decideSitePorts(siteClaims(input.desired), input.sitePorts ?? new Map());
  for (const d of input.desired) {
    const out = planDesired(d, input.local.get(d.deployment), input, sitePorts.get(d.deployment));
    steps.push(...out.steps);
    statuses.push(out.status);
  }
  // Workloads no longer desired (deleted, or the node left the selector): stop them, first,
  // so a site port they free is free before a deployment waiting for it tries to listen.
  const leaving: Step[] = [];
  for (const [name, local] of input.local) {
    if (desiredNames.has(name)) continue;
    if (local.candidate !== undefined) leaving.push(stop(name, 'candidate', 'no-longer-desired', 'no longer desired'));
    if (local.active !== undefined) leaving.push(stop(name, 'active', 'no-longer-desired', 'no longer desired'));
    // A front door left on a site port with nothing behind it frees the port.
    if (local.sitePort !== undefined && local.active === undefined && local.candidate === undefined)
      leaving.push({ action: 'listen', deployment: name, port: null });
    if (local.active !== undefined || local.candidate !== undefined) {
      statuses.push(
        status(
          name,
          local.active?.revision ?? 0,
          'stopped',
          'deleted',
          'the deployment no longer selects this node; stopping',
          local,
          heldRevisions(name, input),
        ),
      );
    }
  }
  steps.unshift(...leaving);
  const keep = keepDigests(input);
  const keepImages = keepImagesOf(input);
  if ([...input.artifacts].some((a) => !keep.has(a)) || [...(input.images ?? [])].some((i) => !keepImages.has(i)))
    steps.push({ action: 'gc', keep: [...keep].sort(), keepImages: [...keepImages].sort() });
  return { steps, statuses };
}

interface Choice {
  model: ModelChoice | undefined;
  reason: string | null;
  message: string | null;
}

/** Which model should serve this revision on this node now, and why. */
function chooseModel(d: VerifiedWorkload, local: LocalWorkload | undefined, input: PlanInput): Choice {
  const r = d.release;
  const engine = input.containerEngine === true;
  // A container fallback needs the engine as much as a container primary does.
  const fallbackRuns = r.fallback !== undefined && (imageOfPart(r, 'fallback') === undefined || engine);
  const noEngine: Choice = {
    model: undefined,
    reason: 'runtime-unavailable',
    message: 'the release runs a container and this node has no container engine (install podman and restart the agent)',
  };
  const needsAccelerator = r.runtime.accelerator === 'required' || (r.runtime.accelerator === 'preferred' && r.fallback !== undefined);
  if (needsAccelerator && !input.hasAccelerator) {
    if (r.fallback === undefined)
      return {
        model: undefined,
        reason: 'accelerator-unavailable',
        message: 'the release requires an accelerator, this node has none, and the release has no fallback model',
      };
    if (!fallbackRuns) return noEngine;
    return { model: 'fallback', reason: 'accelerator-unavailable', message: 'no accelerator on this node: serving the CPU fallback model' };
  }
  const primaryImage = imageKeyOf(r, 'primary');
  if (primaryImage !== undefined && !engine) {
    if (!fallbackRuns) return noEngine;
    return { model: 'fallback', reason: 'runtime-unavailable', message: 'no container engine on this node (install podman): serving the fallback' };
  }
  // An image index without this node's platform will not grow one: the fallback serves for good.
  const platform = primaryImage === undefined ? undefined : input.imageFailures?.get(primaryImage);
  if (platform?.reason === 'platform-unavailable') {
    if (!fallbackRuns)
      return { model: undefined, reason: 'platform-unavailable', message: `${platform.message}; the release has no fallback this node can run` };
    return { model: 'fallback', reason: 'platform-unavailable', message: `${platform.message}: serving the fallback` };
  }
  const primaryFailure = lastInstanceFailure(local, d.revision, 'primary');
  if (primaryFailure !== undefined && primaryFailure.count >= input.crashLoopThreshold) {
    const retrying = input.now >= primaryFailure.at + input.primaryRetryDelayMs(primaryFailure.count);
    const what = `the primary failed ${primaryFailure.count} times (${primaryFailure.message})`;
    if (!retrying) {
      if (r.fallback !== undefined) return { model: 'fallback', reason: 'primary-crashloop', message: `${what}: serving the CPU fallback model` };
      return { model: undefined, reason: 'primary-crashloop', message: `${what} and the release has no fallback; retrying later` };
    }
    // Time to try the primary again; the fallback keeps serving until it has proven itself.
    const onFallback = local?.active?.revision === d.revision && local.active.model === 'fallback';
    if (onFallback || local?.candidate?.model === 'primary')
      return { model: 'primary', reason: 'primary-crashloop', message: `${what}: trying the primary again` };
  }
  return { model: 'primary', reason: null, message: null };
}

/** The last failure of any kind of this revision/model. */
function lastFailure(local: LocalWorkload | undefined, revision: number, model: ModelChoice): FailureRecord | undefined {
  return local?.failures.findLast((f) => f.revision === revision && f.model === model);
}

/**
 * The last instance failure of this revision/model. Called only once a rejection of the
 * revision has been ruled out, so it finds what {@link lastFailure} would.
 */
function lastInstanceFailure(local: LocalWorkload | undefined, revision: number, model: ModelChoice): InstanceFailure | undefined {
  return local?.failures.findLast((f): f is InstanceFailure => f.kind === 'instance-failed' && f.revision === revision && f.model === model);
}

function stop(deployment: string, which: 'active' | 'candidate', cause: StopCause, reason: string): Step {
  return { action: 'stop', deployment, which, cause, reason };
}

function artifactOf(release: Release, model: ModelChoice): string | undefined {
  return artifactOfPart(release, model);
}

/** The canonical reference (`registry/repository@digest`) of a part's image, if it is a container. */
export function imageKeyOf(release: Release, model: ModelChoice): string | undefined {
  const text = imageOfPart(release, model);
  return text === undefined ? undefined : formatImageReference(parseImageReference(text));
}

/** Whether everything a part needs is on the node: its model file, its image in the engine. A process needs neither. */
function partReady(release: Release, model: ModelChoice, input: PlanInput): boolean {
  const digest = artifactOf(release, model);
  const image = imageKeyOf(release, model);
  return (digest === undefined || input.artifacts.has(digest)) && (image === undefined || (input.images?.has(image) ?? false));
}

/**
 * Restarted while fetching what a new revision needs (power cut): serve what served before
 * while it arrives, if that is still on the node and did not fail.
 */
function serveLastMeanwhile(name: string, local: LocalWorkload | undefined, input: PlanInput, steps: Step[]): void {
  const last = local?.lastServing;
  const lastRelease = last === undefined ? undefined : input.known.get(name)?.get(last.revision);
  if (local?.active !== undefined || local?.candidate !== undefined || last === undefined || lastRelease === undefined) return;
  if (partReady(lastRelease, last.model, input) && lastFailure(local, last.revision, last.model) === undefined)
    steps.push({ action: 'start', deployment: name, revision: last.revision, model: last.model });
}

/**
 * The revision to switch back to when the desired one cannot serve and nothing else does:
 * the last revision that was healthy and serving on this node (remembered across restarts),
 * else the one that served before the active one, if it is another revision, is still known,
 * its parts are on the node and it has not failed here.
 */
function switchBackTarget(
  name: string,
  desired: number,
  local: LocalWorkload | undefined,
  input: PlanInput,
  previousModel: ModelChoice = 'primary',
): { revision: number; model: ModelChoice } | undefined {
  const options = [local?.lastServing, local?.previousRevision === undefined ? undefined : { revision: local.previousRevision, model: previousModel }];
  return options.find((o): o is { revision: number; model: ModelChoice } => {
    if (o === undefined || o.revision === desired) return false;
    const r = input.known.get(name)?.get(o.revision);
    return r !== undefined && partReady(r, o.model, input) && lastFailure(local, o.revision, o.model) === undefined;
  });
}

/**
 * The desired revision cannot serve (rejected, or its primary crash-loops with no fallback)
 * and nothing else serves: bring up `target`, promote it once healthy, give up on it if it
 * fails too. Returns the note for the status message.
 */
function switchBack(name: string, local: LocalWorkload | undefined, target: { revision: number; model: ModelChoice }, steps: Step[]): string {
  const candidate = local?.candidate;
  if (candidate !== undefined && candidate.revision === target.revision && candidate.model === target.model) {
    if (candidate.health === 'ready') {
      steps.push({ action: 'promote', deployment: name });
      return `revision ${target.revision} (${target.model}) serves again`;
    }
    if (candidate.health !== 'starting') steps.push(stop(name, 'candidate', 'candidate-failed', `candidate ${candidate.health}`));
    return `switching back to revision ${target.revision}`;
  }
  if (candidate !== undefined) steps.push(stop(name, 'candidate', 'superseded', 'superseded'));
  steps.push({ action: 'start', deployment: name, revision: target.revision, model: target.model });
  return `switching back to revision ${target.revision}`;
}

function windowMs(release: Release): number {
  return parseDuration(release.health.window);
}

/** The site ports desired workloads claim: those that may run (verified, environment allowed) and declare an endpoint. */
function siteClaims(desired: readonly VerifiedWorkload[]): SitePortClaim[] {
  return desired.flatMap((d) =>
    d.endpoint == null || d.verificationProblem !== undefined || releaseEnvProblem(d.release) !== undefined
      ? []
      : [{ deployment: d.deployment, port: d.endpoint.port }],
  );
}

/**
 * The front door comes first: a deployment that declares an endpoint serves only once its
 * front door listens on its site port. Returns the early answer while that is not so (the
 * port is another deployment's, or the listen failed and waits to retry), else undefined.
 */
function planFrontDoor(
  d: VerifiedWorkload,
  local: LocalWorkload | undefined,
  input: PlanInput,
  verdict: SitePortVerdict | undefined,
  steps: Step[],
  mk: (state: WorkloadState, reason: string | null, message: string | null) => WorkloadStatus,
): { steps: Step[]; status: WorkloadStatus } | undefined {
  const name = d.deployment;
  const port = d.endpoint?.port;
  if (port === undefined) {
    // The endpoint was removed: back to loopback (the rest of the plan goes on).
    if (local?.sitePort !== undefined) steps.push({ action: 'listen', deployment: name, port: null });
    return undefined;
  }
  if (verdict !== undefined && !verdict.granted) {
    // Refused on this node: nothing of it runs here, and a site port it held before is freed.
    if (local?.candidate !== undefined) steps.push(stop(name, 'candidate', 'cannot-run', 'port-conflict'));
    if (local?.active !== undefined) steps.push(stop(name, 'active', 'cannot-run', 'port-conflict'));
    if (local?.sitePort !== undefined) steps.push({ action: 'listen', deployment: name, port: null });
    return {
      steps,
      status: mk(
        'failed',
        'port-conflict',
        `port ${port} on this node is held by deployment ${verdict.holder}, so ${name} does not run here; give one of them another spec.endpoint.port`,
      ),
    };
  }
  if (local?.sitePort === port) return undefined;
  const failure = input.endpointFailures?.get(name);
  const failed = failure !== undefined && failure.port === port ? failure : undefined;
  if (failed === undefined || input.now >= failed.retryAt) steps.push({ action: 'listen', deployment: name, port });
  if (failed !== undefined) {
    const retry = Math.max(0, Math.ceil((failed.retryAt - input.now) / 1000));
    return { steps, status: mk('failed', failed.reason, `${failed.message} (attempt ${failed.count}, next in ${retry} s); ${servingNote(local)}`) };
  }
  return { steps, status: mk('starting', null, `opening port ${port} for the site`) };
}

function planDesired(
  d: VerifiedWorkload,
  local: LocalWorkload | undefined,
  input: PlanInput,
  verdict?: SitePortVerdict,
): { steps: Step[]; status: WorkloadStatus } {
  const steps: Step[] = [];
  const name = d.deployment;
  const held = heldRevisions(name, input);
  const mk = (state: WorkloadState, reason: string | null, message: string | null): WorkloadStatus =>
    status(name, d.revision, state, reason, message, local, held);

  if (d.verificationProblem !== undefined) {
    if (local?.candidate?.revision === d.revision) steps.push(stop(name, 'candidate', 'verification-failed', 'release failed verification'));
    return { steps, status: mk('verification-failed', 'signature-invalid', `${d.verificationProblem}; ${servingNote(local)}`) };
  }
  // Defence in depth behind the server's apply check: a signed release is no exception
  // (a loader variable turns a model release into code; docs/SECURITY.md).
  const envProblem = releaseEnvProblem(d.release);
  if (envProblem !== undefined) {
    if (local?.candidate?.revision === d.revision) steps.push(stop(name, 'candidate', 'verification-failed', 'release environment refused'));
    if (local?.active?.revision === d.revision) steps.push(stop(name, 'active', 'verification-failed', 'release environment refused'));
    const message = `refused: the release sets ${envProblem.field} (${envProblem.message})`;
    return { steps, status: mk('verification-failed', 'env-refused', `${message}; ${servingNote(local)}`) };
  }
  const frontDoor = planFrontDoor(d, local, input, verdict, steps, mk);
  if (frontDoor !== undefined) return frontDoor;

  const active = local?.active;
  const candidate = local?.candidate;
  // A revision that took over and then failed inside its health window, or never became
  // healthy while an older revision served, is not retried: retrying a bad release forever
  // is how fleets end up in restart loops. A new revision clears this.
  const rejected = local?.failures.findLast((f) => f.kind === 'revision-rejected' && f.revision === d.revision);
  if (rejected !== undefined) {
    if (candidate?.revision === d.revision) steps.push(stop(name, 'candidate', 'revision-rejected', 'revision rejected'));
    // Nothing else serves (the rejected revision is active, or nothing is, after a restart):
    // switch back to the last revision that served.
    const target = active === undefined || active.revision === d.revision ? switchBackTarget(name, d.revision, local, input, active?.model) : undefined;
    if (target !== undefined && (candidate === undefined || candidate.revision !== d.revision)) {
      const note = switchBack(name, local, target, steps);
      return { steps, status: mk('failed', 'health-check-failed', `${rejected.message}; ${note}`) };
    }
    if (candidate !== undefined && candidate.revision !== d.revision && candidate.health === 'ready') steps.push({ action: 'promote', deployment: name });
    return { steps, status: mk('failed', 'health-check-failed', `${rejected.message}; ${servingNote(local)}`) };
  }

  // A new revision whose primary keeps failing while an older revision serves is given up
  // on (the older one keeps serving); its CPU fallback is for nodes, not for bad releases.
  const newFailure = lastInstanceFailure(local, d.revision, 'primary');
  if (active !== undefined && active.revision !== d.revision && newFailure !== undefined && newFailure.count >= input.crashLoopThreshold) {
    if (candidate?.revision === d.revision) steps.push(stop(name, 'candidate', 'revision-keeps-failing', 'revision keeps failing'));
    return { steps, status: mk('failed', newFailure.reason, `${newFailure.message} (${newFailure.count} times); ${servingNote(local)}`) };
  }

  const choice = chooseModel(d, local, input);
  if (choice.model === undefined) {
    // A primary that crash-loops with no fallback while nothing else serves: the last
    // revision that served takes over again (the crashing one is retried after the delay).
    const crashed = active === undefined || (active.revision === d.revision && active.health !== 'ready');
    const target = choice.reason === 'primary-crashloop' && crashed ? switchBackTarget(name, d.revision, local, input) : undefined;
    if (target !== undefined) {
      const note = switchBack(name, local, target, steps);
      return { steps, status: mk('failed', choice.reason, `${choice.message}; ${note}`) };
    }
    if (candidate !== undefined) steps.push(stop(name, 'candidate', 'cannot-run', choice.reason ?? 'cannot run'));
    return { steps, status: mk('failed', choice.reason, choice.message) };
  }
  const model = choice.model;
  const digest = artifactOf(d.release, model);
  const image = imageKeyOf(d.release, model);

  // 1. The model (if the part has one) must be here first…
  if (digest !== undefined && !input.artifacts.has(digest)) {
    const failure = input.downloadFailures.get(digest);
    if (failure !== undefined && input.now < failure.retryAt) {
      const state: WorkloadState = failure.tampered ? 'verification-failed' : 'failed';
      return { steps, status: mk(state, failure.code.replace('_', '-'), `${failure.message}; ${servingNote(local)}`) };
    }
    steps.push({ action: 'download', digest });
    serveLastMeanwhile(name, local, input, steps);
    return { steps, status: mk('downloading', choice.reason, `fetching ${digest.slice(0, 19)}…`) };
  }
  // …and its image (if it is a container) in the engine.
  if (image !== undefined && !(input.images?.has(image) ?? false)) {
    const failure = input.imageFailures?.get(image);
    if (failure !== undefined && input.now < failure.retryAt) {
      const state: WorkloadState = failure.reason === 'image-signature-invalid' || failure.reason === 'digest-mismatch' ? 'verification-failed' : 'failed';
      return { steps, status: mk(state, failure.reason, `${failure.message}; ${servingNote(local)}`) };
    }
    steps.push({ action: 'pull', image, deployment: name, revision: d.revision, model });
    serveLastMeanwhile(name, local, input, steps);
    return { steps, status: mk('downloading', choice.reason, `pulling ${image.slice(0, 80)}…`) };
  }

  // 2. Already serving what we want.
  if (active !== undefined && active.revision === d.revision && active.model === model) {
    if (candidate !== undefined) steps.push(stop(name, 'candidate', 'not-needed', 'not needed'));
    return planActive(d, local as LocalWorkload, model, choice, input, steps, mk);
  }

  // 3. Bringing up a candidate.
  if (candidate !== undefined) {
    if (candidate.revision !== d.revision || candidate.model !== model) {
      steps.push(stop(name, 'candidate', 'superseded', 'superseded'));
      return { steps, status: mk('starting', choice.reason, 'replacing an outdated candidate') };
    }
    if (candidate.health === 'ready') {
      // Going back to the primary after a crash loop waits until it has stayed healthy for
      // the health window; a new revision takes over as soon as it is healthy.
      const returning = active !== undefined && active.revision === d.revision && active.model === 'fallback' && model === 'primary';
      if (!returning || (candidate.readySince !== undefined && input.now - candidate.readySince >= windowMs(d.release))) {
        steps.push({ action: 'promote', deployment: name });
        // Report what serves once the promotion is done: the candidate.
        const promoted = { ...(local as LocalWorkload), active: candidate, candidate: undefined };
        const s =
          model === 'fallback'
            ? status(name, d.revision, 'degraded', choice.reason, choice.message, promoted, held)
            : status(name, d.revision, 'running', null, null, promoted, held);
        return { steps, status: s };
      }
      return {
        steps,
        status:
          active?.model === 'fallback'
            ? mk('degraded', choice.reason, `${choice.message ?? ''}; the primary is healthy again and takes over after the health window`)
            : mk('starting', choice.reason, choice.message),
      };
    }
    if (candidate.health === 'starting') {
      return {
        steps,
        status:
          active !== undefined && active.revision === d.revision && active.model === 'fallback'
            ? mk('degraded', choice.reason, choice.message)
            : mk('starting', choice.reason, choice.message),
      };
    }
    // The candidate died or failed its health checks: the supervisor recorded the failure;
    // stop it and let the next pass decide (retry, fall back, or give up on the revision).
    steps.push(stop(name, 'candidate', 'candidate-failed', `candidate ${candidate.health}`));
    return { steps, status: mk(active === undefined ? 'starting' : active.model === 'fallback' ? 'degraded' : 'starting', choice.reason, choice.message) };
  }

  // 4. Nothing (right) is starting yet.
  const failure = lastInstanceFailure(local, d.revision, model);
  if (failure !== undefined) {
    const newRevisionOverOld = active !== undefined && active.revision !== d.revision;
    if (newRevisionOverOld && failure.count >= input.crashLoopThreshold) {
      return { steps, status: mk('failed', failure.reason, `${failure.message}; ${servingNote(local)}`) };
    }
    const retryAt = failure.at + restartDelayMs(failure.count);
    if (input.now < retryAt)
      return {
        steps,
        status: mk(active?.model === 'fallback' ? 'degraded' : 'starting', choice.reason ?? failure.reason, `retrying after: ${failure.message}`),
      };
  }
  steps.push({ action: 'start', deployment: name, revision: d.revision, model });
  return { steps, status: mk(active?.revision === d.revision && active.model === 'fallback' ? 'degraded' : 'starting', choice.reason, choice.message) };
}

function planActive(
  d: VerifiedWorkload,
  local: LocalWorkload,
  model: ModelChoice,
  choice: Choice,
  input: PlanInput,
  steps: Step[],
  mk: (state: WorkloadState, reason: string | null, message: string | null) => WorkloadStatus,
): { steps: Step[]; status: WorkloadStatus } {
  const active = local.active!;
  const name = d.deployment;
  if (active.health === 'ready') return { steps, status: mk(model === 'fallback' ? 'degraded' : 'running', choice.reason, choice.message) };
  if (active.health === 'starting') return { steps, status: mk('starting', choice.reason, choice.message) };
  // The serving instance failed. Inside its health window after taking over from an older
  // revision: switch back to that revision by ourselves and reject this one.
  const failure = lastInstanceFailure(local, d.revision, model);
  // Back to the last revision that served (after an agent restart the active instance may be
  // the first one started, so that is not always the revision before it).
  const back = switchBackTarget(name, d.revision, local, input, active.model)?.revision ?? local.previousRevision;
  if (back !== undefined && back !== d.revision && input.now - (active.promotedAt ?? active.startedAt) < windowMs(d.release)) {
    const message = `revision ${d.revision} failed inside its health window (${failure?.message ?? active.health}); switching back to revision ${back}`;
    steps.push({ action: 'reject', deployment: name, revision: d.revision, message });
    return { steps, status: mk('failed', 'health-check-failed', message) };
  }
  const count = failure?.count ?? 1;
  const retryAt = (failure?.at ?? input.now) + restartDelayMs(count);
  if (input.now >= retryAt) steps.push({ action: 'restart', deployment: name });
  const crashLoop = count >= input.crashLoopThreshold;
  return {
    steps,
    status: mk(
      crashLoop && model === 'primary' && d.release.fallback === undefined ? 'failed' : 'starting',
      crashLoop ? 'crashloop' : 'restarting',
      `${failure?.message ?? active.health}: restart ${count} (self-healing with backoff)`,
    ),
  };
}

function servingNote(local: LocalWorkload | undefined): string {
  const a = local?.active;
  return a === undefined ? 'nothing else is serving' : `revision ${a.revision} (${a.model}) keeps serving`;
}

function status(
  deployment: string,
  revision: number,
  state: WorkloadState,
  reason: string | null,
  message: string | null,
  local: LocalWorkload | undefined,
  held: number[],
): WorkloadStatus {
  const a = local?.active;
  const serving = a !== undefined && a.health === 'ready';
  return {
    deployment,
    revision,
    state,
    reason,
    message,
    endpoint: !serving
      ? null
      : local?.sitePort !== undefined
        ? `http://${local.siteHost ?? '127.0.0.1'}:${local.sitePort}`
        : `http://127.0.0.1:${local?.proxyPort ?? a.port}`,
    active: serving ? a.model : null,
    servingRevision: serving ? a.revision : null,
    heldRevisions: held,
  };
}

function heldRevisions(name: string, input: PlanInput): number[] {
  const known = input.known.get(name);
  if (known === undefined) return [];
  return [...known.entries()]
    .filter(
      ([, r]) => releaseArtifacts(r).every((a) => input.artifacts.has(a)) && releaseImages(r).every((i) => input.images?.has(formatImageReference(i)) ?? false),
    )
    .map(([rev]) => rev)
    .sort((a, b) => a - b);
}

/** Artifacts to keep: every model of what is desired, and of the revisions held to switch back to. */
function keepDigests(input: PlanInput): Set<string> {
  return keptOf(input, releaseArtifacts);
}

/** Images to keep (canonical references), by the same rule as artifacts. */
function keepImagesOf(input: PlanInput): Set<string> {
  return keptOf(input, (r) => releaseImages(r).map(formatImageReference));
}

/** What the releases desired, running, starting or held to switch back to need. */
function keptOf(input: PlanInput, partsOf: (r: Release) => string[]): Set<string> {
  const keep = new Set<string>();
  const add = (r: Release): void => {
    for (const a of partsOf(r)) keep.add(a);
  };
  for (const d of input.desired) add(d.release);
  for (const [name, revisions] of input.known) {
    const local = input.local.get(name);
    for (const rev of [local?.active?.revision, local?.previousRevision, local?.candidate?.revision, local?.lastServing?.revision]) {
      const r = rev === undefined ? undefined : revisions.get(rev);
      if (r !== undefined) add(r);
    }
  }
  return keep;
}
