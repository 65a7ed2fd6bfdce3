/**
 * What a GitOps source may reach on the server: local repositories only under the GitOps
 * root (`--gitops-root`, default the server's data dir), so an operator cannot make the
 * server read `/etc`, another service's repository or the CA folder's neighbours; and
 * remote clones only up to a size (`--gitops-max-clone-mib`, default 256 MiB), so a huge
 * or hostile repository cannot fill the server's disk.
 */
import { realpath } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { errors } from '@edgefleet/protocol';
import type { HttpClient } from 'isomorphic-git';
import type { ServerContext } from '../context.js';

/** A remote clone or fetch larger than this (bytes received) fails the sync. */
export const DEFAULT_MAX_CLONE_BYTES = 256 * 1024 * 1024;

/** Where GitOps may read: the root for local repositories and the bound on remote clones. */
export interface GitopsLimits {
  /** Absolute folder; local sources must be inside it (symlinks resolved). */
  root: string;
  /** Bytes a single clone or fetch may receive. */
  maxCloneBytes: number;
}

/** The server's GitOps limits: its options, or the data dir and 256 MiB. */
export function gitopsLimitsOf(ctx: Pick<ServerContext, 'dataDir' | 'gitops'>): GitopsLimits {
  return ctx.gitops ?? { root: ctx.dataDir.path, maxCloneBytes: DEFAULT_MAX_CLONE_BYTES };
}

/** A path with its symlinks resolved; for a path that does not exist (yet), its nearest existing ancestor's. */
async function realPathOf(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    const parent = dirname(path);
    if (parent === path) return path;
    return resolve(await realPathOf(parent), relative(parent, path));
  }
}

/** Whether `path` (absolute, resolved) is `root` or inside it. */
function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Why a local source's path is refused: undefined when it is under the root. */
export async function localPathProblem(root: string, url: string): Promise<string | undefined> {
  const path = resolve(url.startsWith('file://') ? fileURLToPath(url) : url);
  const [realRoot, realPath] = await Promise.all([realPathOf(resolve(root)), realPathOf(path)]);
  if (isInside(realRoot, realPath)) return undefined;
  return `${url} is outside the GitOps root ${root}`;
}

/** Refuses (400, field `url`) a local source outside the GitOps root. */
export async function assertUnderGitopsRoot(limits: GitopsLimits, url: string): Promise<void> {
  const problem = await localPathProblem(limits.root, url);
  if (problem === undefined) return;
  throw errors.badRequest(
    `${problem}: the server reads local repositories only under its GitOps root`,
    `put the repository under ${limits.root} (or start the server with --gitops-root DIR), or give an https URL`,
    { field: 'url' },
  );
}

/** The error of a clone or fetch that received more than its limit. */
export class CloneTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`the repository is larger than the clone limit of ${Math.round(maxBytes / (1024 * 1024))} MiB (--gitops-max-clone-mib)`);
    this.name = 'CloneTooLargeError';
  }
}

/**
 * An isomorphic-git HTTP client that stops a response body once more than `maxBytes` in
 * total came in for one operation (the counter is per client: make one per clone or
 * fetch). The bytes are counted as they arrive, so an oversized pack never lands whole.
 */
export function sizeLimitedHttp(client: HttpClient, maxBytes: number): HttpClient {
  let received = 0;
  return {
    async request(req) {
      const res = await client.request(req);
      const body = res.body;
      if (body === undefined) return res;
      async function* limited(): AsyncGenerator<Uint8Array> {
        for await (const chunk of body as AsyncIterable<Uint8Array>) {
          received += chunk.byteLength;
          if (received > maxBytes) throw new CloneTooLargeError(maxBytes);
          yield chunk;
        }
      }
      return { ...res, body: limited() };
    },
  };
}
