import type { Readable } from 'node:stream';
import { type ArtifactInfo, errors, type Release, releaseArtifacts } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { DesiredWatch } from '../deployments/desired-watch.js';
import { desiredStateOf } from '../deployments/node-desired.js';
import type { ServiceLog } from '../nodes/service.js';
import type { NodeRecord } from '../store/index.js';
import type { ArtifactEntry } from './store.js';

/** Largest artifact we accept: 8 GiB. JSON routes keep the app's 1 MiB limit. */
export const ARTIFACT_BODY_LIMIT_BYTES = 8 * 1024 ** 3;

/** The wire shape of a stored artifact. */
function artifactInfo(entry: ArtifactEntry): ArtifactInfo {
  return { digest: entry.digest, size: entry.size, createdAt: entry.createdAt.toISOString() };
}

/**
 * Stores an uploaded artifact (streamed, hashed by the server) and audits it. The file is
 * content-addressed and lives outside the database, so it cannot share the audit entry's
 * transaction: it is stored first, and a push that fails after it leaves only a file a
 * later push of the same bytes finds in place.
 */
export async function pushArtifact(ctx: ServerContext, actor: string, body: Readable | undefined, log: ServiceLog): Promise<ArtifactInfo> {
  if (body === undefined) {
    throw errors.badRequest(
      'the upload has no body',
      'send the file itself as the body with content-type application/octet-stream, or use "edgefleet artifact push FILE"',
      { field: 'body' },
    );
  }
  const entry = await ctx.artifacts.put(body, { maxBytes: ARTIFACT_BODY_LIMIT_BYTES });
  await ctx.store.appendAudit({ at: ctx.clock(), actor, action: 'artifact.push', target: entry.digest, details: { size: entry.size } });
  log.info({ digest: entry.digest, size: entry.size }, 'artifact stored');
  return artifactInfo(entry);
}

/** Every stored artifact. */
export async function listArtifacts(ctx: ServerContext): Promise<{ items: ArtifactInfo[] }> {
  return { items: (await ctx.artifacts.list()).map(artifactInfo) };
}

/** The artifacts a release names: its model and, when it has one, its CPU fallback. */
function artifactsOf(release: Release): string[] {
  return releaseArtifacts(release);
}

/**
 * Refuses a node an artifact its desired state does not name (finding 6 of issue 14). A
 * node may fetch the artifacts (primary and fallback) of the revisions its desired state
 * names, and of the revisions it reports running or holding for rollback (`revision`,
 * `servingRevision`, `heldRevisions` of its workload status, which the server cannot see
 * otherwise) for deployments that target it now. The cost is one desired-state computation
 * plus one revision read per reported revision: bounded by the deployments targeting the node, never a scan of all revisions.
 * The desired state is read after a check of the store's change marks made for this request
 * (DesiredWatch.fresh), so a node loses access as soon as its desired state drops a digest,
 * whichever replica dropped it.
 */
export async function assertNodeMayFetch(ctx: ServerContext, watch: DesiredWatch, node: NodeRecord, digest: string): Promise<void> {
  const nodeId = node.id;
  const desired = await desiredStateOf(watch, node);
  if (desired.workloads.some((w) => artifactsOf(w.release).includes(digest))) return;
  // A node reports whatever it likes: only its reports on deployments that target it now
  // count, so it can name older revisions of its own deployments, never another's.
  const targeting = new Set(desired.workloads.map((w) => w.deployment));
  for (const { status } of await ctx.store.listNodeWorkloads({ nodeId })) {
    if (!targeting.has(status.deployment)) continue;
    const revisions = new Set([status.revision, ...(status.servingRevision === null ? [] : [status.servingRevision]), ...status.heldRevisions]);
    for (const revision of revisions) {
      const record = await ctx.store.getRevision(status.deployment, revision);
      if (record !== undefined && artifactsOf(record.release).includes(digest)) return;
    }
  }
  throw refusal(digest);
}

/** The 403 for a digest a node has no reason to hold. */
function refusal(digest: string): Error {
  return errors.forbidden(
    `this node may not fetch artifact ${digest}: no deployment targeting it names that digest`,
    'a node downloads only the artifacts (model and fallback) of the revisions its desired state names or it runs or holds; apply a deployment whose selector matches this node and whose release names the artifact',
    { field: 'digest' },
  );
}
