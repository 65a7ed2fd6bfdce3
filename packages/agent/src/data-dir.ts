import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '@edgefleet/protocol';

/** What {@link secureDataDir} changed: paths whose mode it tightened, with the old mode. */
export interface DataDirFixes {
  fixed: Array<{ path: string; was: number }>;
}

/**
 * Makes the agent's data dir private to the agent's user, at every start: the folder and
 * every folder in it 0700, every file 0600 (0700 when the owner could execute it). The dir
 * holds the node's private key, its pinned CA and release keys, its queued telemetry and
 * the models it runs: no other user of the machine may read or change them. Files made by
 * an older agent (0644) or by hand are fixed here; new files are made 0600, and as every
 * folder is 0700 nobody else could reach one in between.
 *
 * Symbolic links are left as they are and never followed (chmod would change their target,
 * which may be outside the dir). Creates the dir when missing.
 */
export function secureDataDir(dataDir: string): DataDirFixes {
  const fixes: DataDirFixes = { fixed: [] };
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    walk(dataDir, fixes);
  } catch (err) {
    throw errors.startupFailed(
      `cannot make the agent's data dir ${dataDir} private: ${(err as Error).message}`,
      `run the agent as the user that owns ${dataDir}, or give that user ownership of it (chown -R)`,
      { cause: err },
    );
  }
  return fixes;
}

function walk(path: string, fixes: DataDirFixes): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  const mode = st.mode & 0o777;
  if (st.isDirectory()) {
    if (mode !== 0o700) {
      chmodSync(path, 0o700);
      fixes.fixed.push({ path, was: mode });
    }
    for (const name of readdirSync(path)) walk(join(path, name), fixes);
    return;
  }
  if (!st.isFile()) return;
  const want = mode & 0o100 ? 0o700 : 0o600;
  if (mode !== want) {
    chmodSync(path, want);
    fixes.fixed.push({ path, was: mode });
  }
}
