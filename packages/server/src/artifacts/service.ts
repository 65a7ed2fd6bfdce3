import type { Readable } from 'node:stream';
import { type ArtifactInfo, errors } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { ServiceLog } from '../nodes/service.js';
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
