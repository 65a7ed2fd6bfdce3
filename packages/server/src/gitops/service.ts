import { type EdgefleetError, errors } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { assertUnderGitopsRoot, gitopsLimitsOf } from './limits.js';
import { createSource, removeSource, syncSource } from './reconcile.js';
import { isRemoteUrl } from './repository.js';
import { type SourceRequest, type SourceView, sourceView, validateSourceRequest } from './spec.js';

function sourceNotFound(name: string): EdgefleetError {
  return errors.notFound(`source "${name}" not found`, 'list sources with "edgefleet source list"');
}

/** Validates and adds a GitOps source (with its audit entry); 409 when the name is taken. */
export async function addSource(ctx: ServerContext, actor: string, request: SourceRequest): Promise<SourceView> {
  const spec = validateSourceRequest(request);
  if (!isRemoteUrl(spec.url)) await assertUnderGitopsRoot(gitopsLimitsOf(ctx), spec.url);
  return sourceView(await createSource(ctx, spec, actor));
}

/** Every GitOps source with its status. */
export async function listSourceViews(ctx: ServerContext): Promise<{ items: SourceView[] }> {
  return { items: (await ctx.store.listSources()).map(sourceView) };
}

/** One GitOps source with its status; 404 when there is none. */
export async function getSourceView(ctx: ServerContext, name: string): Promise<SourceView> {
  const source = await ctx.store.getSource(name);
  if (source === undefined) throw sourceNotFound(name);
  return sourceView(source);
}

/** Deletes a source and prunes what it owns (gitops/reconcile.ts); 404 when there is none. */
export async function deleteSource(ctx: ServerContext, actor: string, name: string): Promise<void> {
  if ((await removeSource(ctx, name, actor)) === undefined) throw sourceNotFound(name);
}

/**
 * Polls a source now (waiting for a pass another replica runs), retrying a refused head,
 * and answers with the status after that attempt; 404 when there is none.
 */
export async function syncSourceNow(ctx: ServerContext, name: string): Promise<SourceView> {
  const source = await syncSource(ctx, name, { mode: 'forced' });
  if (source === undefined) throw sourceNotFound(name);
  return sourceView(source);
}
