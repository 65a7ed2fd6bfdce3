import type { Release, WorkloadStatus } from '@edgefleet/protocol';
import type { ImageFailureReason } from '../images/types.js';
import type { EndpointFailure } from './site-ports.js';

/**
 * The agent's workload model. A deployment's workload has at most two instances: the
 * `active` one, which serves, and a `candidate` being brought up (a new revision, or a switch
 * between the primary and the CPU fallback). The candidate takes over only once healthy, so
 * a node never stops serving because of a bad release.
 */
export type ModelChoice = 'primary' | 'fallback';

/** How a running instance looks from the outside, as the supervisor observes it. */
export type InstanceHealth = 'starting' | 'ready' | 'unready' | 'exited';

export interface InstanceObservation {
  revision: number;
  model: ModelChoice;
  health: InstanceHealth;
  startedAt: number;
  /** When it took over as the serving instance (health windows count from here). */
  promotedAt: number | undefined;
  /** Since when health checks pass without a break (undefined while not ready). */
  readySince: number | undefined;
  port: number;
  /** Process id, for diagnostics. */
  pid: number | undefined;
  /** Exit code or signal when `exited`. */
  exit: string | undefined;
}

/** Why a running instance failed, as its health checks saw it. */
type InstanceFailureReason = 'crashed' | 'health-check-failed';

/** An instance of a revision/model failed: remembered so the planner backs off and does not retry it in a loop. */
export interface InstanceFailure {
  kind: 'instance-failed';
  revision: number;
  model: ModelChoice;
  /** Reported as the workload status's reason. */
  reason: InstanceFailureReason;
  message: string;
  at: number;
  /** Consecutive failures of this revision/model. */
  count: number;
}

/**
 * A revision that took over and failed inside its health window: the node switched back and
 * does not try it again until a new revision comes (kept across agent restarts).
 */
export interface RevisionRejection {
  kind: 'revision-rejected';
  revision: number;
  model: ModelChoice;
  message: string;
  at: number;
  count: number;
}

/** A failure the planner remembers, told apart by `kind` (never by its message). */
export type FailureRecord = InstanceFailure | RevisionRejection;

/** The last download of an artifact failed: when to try again, and how to report it meanwhile. */
export interface DownloadFailure {
  /** The bytes did not hash to the digest: reported as a verification failure, retried later. */
  tampered: boolean;
  /** The error's code (`download_failed`, `not_found`, `disk_full`, …), reported as the status reason. */
  code: string;
  message: string;
  retryAt: number;
}

/** Everything the agent observed about one deployment's workload. */
export interface LocalWorkload {
  deployment: string;
  active: InstanceObservation | undefined;
  candidate: InstanceObservation | undefined;
  /** The revision that served before the active one (A/B: kept installed to switch back to). */
  previousRevision: number | undefined;
  /** Recent failures, newest last. */
  failures: FailureRecord[];
  /** Port of the deployment's stable front door (the proxy), once it has one. */
  proxyPort?: number | undefined;
  /** The site port the front door listens on (on the node's inference address), when it serves the site. */
  sitePort?: number | undefined;
  /** The host clients at the site reach the front door by (`--inference-listen`, or the node's address for all interfaces). */
  siteHost?: string | undefined;
  /**
   * What served last (an active instance that was ready), remembered across agent restarts:
   * after a power cut in the middle of a download, the node serves this again while the new
   * model arrives; when the desired revision is rejected or crash-loops with no fallback and
   * nothing else serves, the node switches back to it.
   */
  lastServing?: { revision: number; model: ModelChoice } | undefined;
}

/** A desired workload after the agent checked its signature. */
export interface VerifiedWorkload {
  deployment: string;
  revision: number;
  release: Release;
  /** Why it may not run (bad signature, unsigned under policy), or undefined when it may. */
  verificationProblem: string | undefined;
  /** `spec.endpoint`: serve the site on this port of the node's inference address; null/absent: loopback, a port the agent picks. */
  endpoint?: { port: number } | null;
}

/** Inputs to the planner: all data, no I/O. */
export interface PlanInput {
  now: number;
  desired: readonly VerifiedWorkload[];
  /** Releases of revisions the node still holds (previous, for switching back). */
  known: ReadonlyMap<string, ReadonlyMap<number, Release>>;
  local: ReadonlyMap<string, LocalWorkload>;
  artifacts: ReadonlySet<string>;
  /** Digests whose last download failed, with the reason, and when to retry. */
  downloadFailures: ReadonlyMap<string, DownloadFailure>;
  hasAccelerator: boolean;
  /** How long to wait before trying a crash-looping primary again (grows with failures). */
  primaryRetryDelayMs: (failures: number) => number;
  /** Consecutive primary failures that count as a crash loop. */
  crashLoopThreshold: number;
  /** Images imported into the container engine, by canonical reference (`registry/repository@digest`); default none. */
  images?: ReadonlySet<string>;
  /** Images whose last preparation failed, by canonical reference, with the reason and when to retry. */
  imageFailures?: ReadonlyMap<string, ImageFailure>;
  /** Whether this node has a container engine (absent: none; container parts report `runtime-unavailable`). */
  containerEngine?: boolean;
  /** Which deployment holds which site port on this node (kept across restarts); default none. */
  sitePorts?: ReadonlyMap<number, string>;
  /** Deployments whose front door could not listen on their site port, and when to try again. */
  endpointFailures?: ReadonlyMap<string, EndpointFailure>;
}

/** The last preparation of an image failed (pull, digest, signature, platform, or the engine's import). */
export interface ImageFailure {
  /** Reported as the status reason. */
  reason: ImageFailureReason;
  message: string;
  retryAt: number;
}

/**
 * Why an instance is stopped. `no-longer-desired` is the one the supervisor acts on beyond
 * the stop: once both instances are gone, the deployment's front door closes too.
 */
export type StopCause =
  | 'no-longer-desired'
  | 'verification-failed'
  | 'revision-rejected'
  | 'revision-keeps-failing'
  | 'cannot-run'
  | 'not-needed'
  | 'superseded'
  | 'candidate-failed';

/** One thing to do. The executor has a handler for each action (a record keyed by it). */
export type Step =
  | { action: 'download'; digest: string }
  /** Make an image ready (the image store pulls and verifies it, the engine imports it); `image` is canonical. */
  | { action: 'pull'; image: string; deployment: string; revision: number; model: ModelChoice }
  | { action: 'start'; deployment: string; revision: number; model: ModelChoice }
  | { action: 'promote'; deployment: string }
  /** `cause` is for decisions, `reason` only for the log. */
  | { action: 'stop'; deployment: string; which: 'active' | 'candidate'; cause: StopCause; reason: string }
  | { action: 'restart'; deployment: string }
  /** Remember that a revision failed after taking over, so it is not tried again until a new one comes. */
  | { action: 'reject'; deployment: string; revision: number; message: string }
  /**
   * Move the deployment's front door: onto `port` of the node's inference address (the site
   * port it was granted), or back to loopback (null; closed when nothing runs).
   */
  | { action: 'listen'; deployment: string; port: number | null }
  /** Delete artifacts not in `keep`, and images (canonical references) not in `keepImages`. */
  | { action: 'gc'; keep: string[]; keepImages: string[] };

/** The plan for the whole node: the steps, and the status each workload should report now. */
export interface Plan {
  steps: Step[];
  statuses: WorkloadStatus[];
}
