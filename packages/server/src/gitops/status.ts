import type { SourceCondition, SourceStatusRecord } from '../store/index.js';

/**
 * The closed set of condition reasons a source can show:
 * - `Progressing`: added, not polled yet.
 * - `Applied`: the head commit's manifests are in force.
 * - `SourceUnavailable`: the repository or branch could not be read; retried every interval.
 * - `InvalidManifest`: a file of the commit is not valid YAML/JSON or not a valid manifest.
 * - `PathNotFound`: the source's path does not exist at the commit (nothing is pruned:
 *   a renamed folder must not stop every model in the fleet).
 * - `ApplyFailed`: the server refused the set (unsigned under policy, unknown artifact,
 *   bad selector…), or, when Stalled is False, a transient failure that is retried.
 */
const SOURCE_REASONS = ['Progressing', 'Applied', 'SourceUnavailable', 'InvalidManifest', 'PathNotFound', 'ApplyFailed'] as const;
type SourceReason = (typeof SOURCE_REASONS)[number];

/** Reasons that stall a source: the commit itself is wrong, so retrying it cannot help. */
type StallReason = 'InvalidManifest' | 'PathNotFound' | 'ApplyFailed';

/** How a pass ended: the input of {@link statusAfter}. */
export type PassOutcome =
  /** The repository or branch could not be read. */
  | { kind: 'unavailable'; message: string }
  /** The head needs nothing done (already applied, or already refused). */
  | { kind: 'unchanged'; head: string }
  | { kind: 'applied'; head: string; message: string }
  /** The commit was refused; nothing from it is applied until a new commit (or a forced sync). */
  | { kind: 'stalled'; head: string; reason: StallReason; message: string }
  /** Applying failed for a reason that may pass (database unreachable…); retried next interval. */
  | { kind: 'retrying'; head: string; message: string };

const condition = (type: SourceCondition['type'], status: SourceCondition['status'], reason: SourceReason, message: string): SourceCondition => ({
  type,
  status,
  reason,
  message,
});

const find = (conditions: readonly SourceCondition[], type: SourceCondition['type']): SourceCondition | undefined => conditions.find((c) => c.type === type);

/** The status of a source that was just added. */
export function initialSourceStatus(): SourceStatusRecord {
  return {
    lastAppliedRevision: null,
    lastAttemptedRevision: null,
    conditions: [
      condition('Ready', 'Unknown', 'Progressing', 'waiting for the first poll'),
      condition('Stalled', 'False', 'Progressing', ''),
      condition('Reconciling', 'True', 'Progressing', 'waiting for the first poll'),
    ],
    lastError: null,
    updatedAt: null,
  };
}

/** True when the source's last attempt was refused for good (Stalled=True). */
export function isStalled(status: SourceStatusRecord): boolean {
  return find(status.conditions, 'Stalled')?.status === 'True';
}

/**
 * Whether a pass should apply `head`. A new commit always is. A commit already attempted is
 * not, unless its attempt failed transiently (Stalled=False: retried every interval), or
 * an operator forces it (`edgefleet source sync` after fixing what the server refused, e.g.
 * pushing the missing artifact). An applied head is never applied again.
 */
export function shouldApply(status: SourceStatusRecord, head: string, forced: boolean): boolean {
  if (head !== status.lastAttemptedRevision) return true;
  if (head === status.lastAppliedRevision) return false;
  return forced || !isStalled(status);
}

/** Whether the poller is due to look at a source: never polled, or its interval has passed since the last pass. */
export function isDue(status: { updatedAt: number | null; intervalMs: number }, now: number): boolean {
  return status.updatedAt === null || now - status.updatedAt >= status.intervalMs;
}

/**
 * The status a pass writes (once, at its end). The last good state is never touched by a
 * failure: only a successful apply moves `lastAppliedRevision`.
 */
export function statusAfter(previous: SourceStatusRecord, outcome: PassOutcome, now: number): SourceStatusRecord {
  const stalledBefore = find(previous.conditions, 'Stalled') ?? condition('Stalled', 'False', 'Progressing', '');
  switch (outcome.kind) {
    case 'unavailable':
      // We learnt nothing about the commit: a Stalled condition stays as it was.
      return {
        ...previous,
        conditions: [
          condition('Ready', 'False', 'SourceUnavailable', outcome.message),
          stalledBefore,
          condition('Reconciling', 'True', 'SourceUnavailable', 'retrying at the next interval'),
        ],
        lastError: outcome.message,
        updatedAt: now,
      };
    case 'unchanged': {
      const ready = find(previous.conditions, 'Ready');
      if (ready !== undefined && ready.reason !== 'SourceUnavailable' && ready.reason !== 'Progressing') return { ...previous, updatedAt: now };
      // Readable again after an outage: say again what holds for the head.
      const conditions = isStalled(previous)
        ? [
            condition('Ready', 'False', stalledBefore.reason as SourceReason, stalledBefore.message),
            stalledBefore,
            condition('Reconciling', 'False', stalledBefore.reason as SourceReason, 'waiting for a new commit'),
          ]
        : [
            condition('Ready', 'True', 'Applied', `commit ${outcome.head} is applied`),
            condition('Stalled', 'False', 'Applied', ''),
            condition('Reconciling', 'False', 'Applied', ''),
          ];
      return { ...previous, conditions, lastError: isStalled(previous) ? previous.lastError : null, updatedAt: now };
    }
    case 'applied':
      return {
        lastAppliedRevision: outcome.head,
        lastAttemptedRevision: outcome.head,
        conditions: [
          condition('Ready', 'True', 'Applied', outcome.message),
          condition('Stalled', 'False', 'Applied', ''),
          condition('Reconciling', 'False', 'Applied', ''),
        ],
        lastError: null,
        updatedAt: now,
      };
    case 'stalled':
      return {
        lastAppliedRevision: previous.lastAppliedRevision,
        lastAttemptedRevision: outcome.head,
        conditions: [
          condition('Ready', 'False', outcome.reason, outcome.message),
          condition('Stalled', 'True', outcome.reason, outcome.message),
          condition('Reconciling', 'False', outcome.reason, 'waiting for a new commit'),
        ],
        lastError: outcome.message,
        updatedAt: now,
      };
    case 'retrying':
      return {
        lastAppliedRevision: previous.lastAppliedRevision,
        lastAttemptedRevision: outcome.head,
        conditions: [
          condition('Ready', 'False', 'ApplyFailed', outcome.message),
          condition('Stalled', 'False', 'ApplyFailed', ''),
          condition('Reconciling', 'True', 'ApplyFailed', 'retrying at the next interval'),
        ],
        lastError: outcome.message,
        updatedAt: now,
      };
  }
}
