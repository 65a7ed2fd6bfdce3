import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { EdgefleetError, errors, retryClassOf } from '@edgefleet/protocol';
import { type LocatedManifest, parseManifestFile } from '@edgefleet/protocol/node';
import { auditInTx } from '../audit/audited.js';
import type { Clock } from '../clock.js';
import type { ServerContext } from '../context.js';
import { applyInUnit, applyManifests, changedAnything, inApplyQueue } from '../deployments/apply.js';
import { selectorOf } from '../deployments/plan-apply.js';
import type { Fence } from '../leader/elector.js';
import { isUniqueViolation, LeaseFencedError, type SourceRecord } from '../store/index.js';
import { gitopsLimitsOf, localPathProblem } from './limits.js';
import { isRemoteUrl, openRepository, type RepositoryOpener, SourceReadError, type SourceRepository } from './repository.js';
import type { SourceSpec } from './spec.js';
import { initialSourceStatus, isDue, type PassOutcome, shouldApply, statusAfter } from './status.js';

/** At most this many manifests per commit, as `POST /v1/apply` allows. */
const MAX_MANIFESTS_PER_SOURCE = 500;

/**
 * Per server context, the tail of each source's queue of passes: in this process, passes
 * (and the delete) of one source run one after another, never overlapping. Across
 * replicas the store's advisory lock does the same.
 */
const queues = new WeakMap<ServerContext, Map<string, Promise<unknown>>>();

function exclusive<T>(ctx: ServerContext, name: string, job: () => Promise<T>): Promise<T> {
  let perSource = queues.get(ctx);
  if (perSource === undefined) {
    perSource = new Map();
    queues.set(ctx, perSource);
  }
  const queue = perSource;
  const run = (queue.get(name) ?? Promise.resolve()).then(job, job);
  const tail = run.catch(() => {});
  queue.set(name, tail);
  void tail.then(() => {
    if (queue.get(name) === tail) queue.delete(name);
  });
  return run;
}

/** True while a pass (or delete) of `name` runs or waits in this process. */
export function passInFlight(ctx: ServerContext, name: string): boolean {
  return queues.get(ctx)?.has(name) ?? false;
}

const lockKey = (name: string): string => `source:${name}`;

/** Where a remote source is cloned: `DATA/sources/NAME` (names are DNS labels, so this stays inside). */
function sourceCacheDir(ctx: ServerContext, name: string): string {
  return join(ctx.dataDir.path, 'sources', name);
}

/** How a pass is run. */
interface PassOptions {
  /** 'due': the poller's pass, skipped when the interval has not passed or another replica polls. 'forced': `sync`, waits for the lock and retries a refused head. */
  mode: 'due' | 'forced';
  clock?: Clock;
  openRepository?: RepositoryOpener;
  /** The leader's fence (the poller's passes are singleton work): the apply and the status commit only while it holds. */
  fence?: Fence;
}

/**
 * One pass over a source: resolve the branch head, and unless it needs nothing, read every
 * manifest under the path at that commit and apply them as one unit with pruning. Writes
 * the status once, at the end. Returns the source after the pass; undefined when it does
 * not exist (any more), or in 'due' mode when another replica holds it.
 */
export function syncSource(ctx: ServerContext, name: string, opts: PassOptions): Promise<SourceRecord | undefined> {
  return exclusive(ctx, name, async () => {
    const locked = await ctx.store.withAdvisoryLock(lockKey(name), opts.mode === 'forced' ? 'wait' : 'try', async () => {
      const clock = opts.clock ?? ctx.clock;
      // Read under the lock: another replica may have just polled, or deleted it.
      const source = await ctx.store.getSource(name);
      if (source === undefined) return undefined;
      if (opts.mode === 'due' && !isDue(source, clock())) return source;
      const outcome = await attempt(ctx, source, opts.mode === 'forced', opts.openRepository ?? openRepository, opts.fence);
      const status = statusAfter(source, outcome, clock());
      const fence = opts.fence;
      const updated =
        fence === undefined
          ? await ctx.store.updateSourceStatus(name, status)
          : await ctx.store.transaction(async (tx) => {
              await fence(tx);
              return tx.updateSourceStatus(name, status);
            });
      if (!updated) return undefined;
      logOutcome(ctx, source, outcome);
      return { ...source, ...status };
    });
    return locked.acquired ? locked.value : undefined;
  });
}

/** Runs the pass's I/O and says how it ended; never throws. */
async function attempt(ctx: ServerContext, source: SourceRecord, forced: boolean, open: RepositoryOpener, fence: Fence | undefined): Promise<PassOutcome> {
  let repo: SourceRepository;
  let head: string;
  const limits = gitopsLimitsOf(ctx);
  try {
    // Checked at every pass too: a source stored before the root existed, or a symlink
    // swapped after the source was added, must not make the server read outside it.
    if (!isRemoteUrl(source.url)) {
      const problem = await localPathProblem(limits.root, source.url);
      if (problem !== undefined) return { kind: 'unavailable', message: `${problem}: move the repository under it, or start the server with --gitops-root` };
    }
    repo = open(source.url, sourceCacheDir(ctx, source.name), limits.maxCloneBytes);
    head = await repo.resolveHead(source.branch);
  } catch (err) {
    return { kind: 'unavailable', message: messageOf(err) };
  }
  if (!shouldApply(source, head, forced)) return { kind: 'unchanged', head };

  let located: LocatedManifest[];
  try {
    const files = await repo.readManifestFiles(head, source.path);
    located = files.flatMap((f) => parseManifestFile(f.text, f.file));
  } catch (err) {
    if (err instanceof SourceReadError) {
      return err.reason === 'SourceUnavailable'
        ? { kind: 'unavailable', message: err.message }
        : { kind: 'stalled', head, reason: err.reason, message: err.message };
    }
    // parseManifestFile's errors start with `file:line:` and name the field.
    return { kind: 'stalled', head, reason: 'InvalidManifest', message: messageOf(err) };
  }
  // Selector syntax is checked at apply, whose message cannot say which file: check here first.
  for (const l of located) {
    try {
      selectorOf(l.manifest.spec.selector);
    } catch (err) {
      return {
        kind: 'stalled',
        head,
        reason: 'InvalidManifest',
        message: `${l.file}:${l.line}: deployment/${l.manifest.metadata.name}: spec.selector: ${messageOf(err)}`,
      };
    }
  }
  if (located.length > MAX_MANIFESTS_PER_SOURCE) {
    return {
      kind: 'stalled',
      head,
      reason: 'InvalidManifest',
      message: `${located.length} manifests under ${source.path}; at most ${MAX_MANIFESTS_PER_SOURCE} per source`,
    };
  }

  try {
    const { results, pruned } = await applyManifests(
      ctx,
      located.map((l) => l.manifest),
      { source: source.name, commit: head, actor: `source:${source.name}`, prune: true, ...(fence === undefined ? {} : { fence }) },
    );
    const count = (r: string): number => results.filter((x) => x.result === r).length;
    const message =
      `applied commit ${head}: ${results.length} deployment${results.length === 1 ? '' : 's'} ` +
      `(${count('created')} created, ${count('configured')} configured, ${count('unchanged')} unchanged), ${pruned.length} pruned`;
    return { kind: 'applied', head, message };
  } catch (err) {
    // Fenced out (another replica leads now): the pass ends, its status is not written either.
    if (err instanceof LeaseFencedError) throw err;
    return afterApplyFailure(err, head, located);
  }
}

/**
 * How a failed apply of commit `head` ends the pass, from the error's retry class: a
 * terminal refusal is about the commit, so stall on it; anything else (a busy store, a
 * conflict of the moment, a bug) may pass at the next interval, so retry.
 */
export function afterApplyFailure(err: unknown, head: string, located: readonly LocatedManifest[]): PassOutcome {
  if (err instanceof EdgefleetError && retryClassOf(err) === 'terminal') {
    return { kind: 'stalled', head, reason: 'ApplyFailed', message: withOrigin(err.message, located) };
  }
  return { kind: 'retrying', head, message: `applying commit ${head} failed: ${messageOf(err)}` };
}

/** Prefixes a `deployment/NAME: …` refusal with the file and line of NAME's manifest. */
function withOrigin(message: string, located: readonly LocatedManifest[]): string {
  const name = /^deployment\/([^:]+):/.exec(message)?.[1];
  const origin = located.find((l) => l.manifest.metadata.name === name);
  return origin === undefined ? message : `${origin.file}:${origin.line}: ${message}`;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function logOutcome(ctx: ServerContext, source: SourceRecord, outcome: PassOutcome): void {
  const log = ctx.log.child({ source: source.name });
  switch (outcome.kind) {
    case 'applied':
      if (outcome.head !== source.lastAppliedRevision) log.info({ commit: outcome.head }, outcome.message);
      return;
    case 'stalled':
      log.warn({ commit: outcome.head, reason: outcome.reason }, `source stalled: ${outcome.message}`);
      return;
    case 'retrying':
      log.warn({ commit: outcome.head }, outcome.message);
      return;
    case 'unavailable': {
      // Once per outage at warn, then quietly: a git host down for an hour is one story.
      const wasUnavailable = source.conditions.some((c) => c.type === 'Ready' && c.reason === 'SourceUnavailable');
      if (wasUnavailable) log.debug(outcome.message);
      else log.warn(`source unavailable: ${outcome.message}`);
      return;
    }
    case 'unchanged':
      return;
  }
}

/** Adds a source with its audit entry; the poller picks it up at its next tick. A taken name is a 409. */
export async function createSource(ctx: ServerContext, spec: SourceSpec, actor: string): Promise<SourceRecord> {
  const record: SourceRecord = { ...spec, createdAt: ctx.clock(), ...initialSourceStatus() };
  try {
    // The unique violation ends the transaction (PostgreSQL aborts it): it is caught outside.
    await ctx.store.transaction(async (tx) => {
      await tx.createSource(record);
      await auditInTx(ctx, tx, { at: record.createdAt, actor, action: 'source.create', target: spec.name, details: { branch: spec.branch, path: spec.path } });
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      throw errors.conflict(`source "${spec.name}" already exists`, 'pick another name, or delete the old source first (that prunes its deployments)', {
        field: 'name',
      });
    }
    throw err;
  }
  return record;
}

/**
 * Deletes a source and prunes every deployment it owns (nodes stop their workloads). It
 * waits for a running pass, so no pass can re-create a deployment after the prune. The
 * prune, the delete and their audit entries are one unit of work: if any fails, the source
 * and its deployments are all still there and a later delete can finish the job.
 */
export function removeSource(ctx: ServerContext, name: string, actor: string): Promise<{ pruned: string[] } | undefined> {
  return exclusive(ctx, name, async () => {
    const locked = await ctx.store.withAdvisoryLock(lockKey(name), 'wait', async () => {
      const removed = await inApplyQueue(ctx, () =>
        ctx.store.transaction(async (tx) => {
          const source = await tx.getSource(name);
          if (source === undefined) return undefined;
          const outcome = await applyInUnit(ctx, tx, [], { source: name, commit: null, actor, prune: true });
          await tx.deleteSource(name);
          await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'source.delete', target: name, details: { pruned: outcome.pruned } });
          return { source, outcome };
        }),
      );
      if (removed === undefined) return undefined;
      if (changedAnything(removed.outcome)) ctx.events.emit('desired');
      if (isRemoteUrl(removed.source.url)) await rm(sourceCacheDir(ctx, name), { recursive: true, force: true });
      return { pruned: removed.outcome.pruned };
    });
    return locked.acquired ? locked.value : undefined;
  });
}
