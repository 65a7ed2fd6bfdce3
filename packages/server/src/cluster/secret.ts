import { readFileSync, type Stats, statSync } from 'node:fs';
import { errors } from '@edgefleet/protocol';

/** The fewest characters a cluster secret may have: 32 random base64 characters carry 192 bits. */
export const MIN_CLUSTER_SECRET_CHARS = 32;

/** How to make a good secret file, for the hints. */
function howToCreate(path: string): string {
  return `create it once with: (umask 077; head -c 48 /dev/urandom | base64 > ${path}) and give every replica a copy of the same file`;
}

/**
 * Reads `--cluster-secret-file`: the one secret every replica on PostgreSQL is given, from
 * which the key sealing the cluster's CA and keys in the database is derived. Refused, with
 * what to do, when it is missing, not a regular file, readable or writable by other users
 * (as ssh does for private keys: another account on the host could read the fleet CA out of
 * any database dump), empty, or shorter than {@link MIN_CLUSTER_SECRET_CHARS} characters.
 * Surrounding whitespace (the trailing newline of `echo`) is not part of the secret.
 */
export function readClusterSecret(path: string): Buffer {
  const fail = (message: string, hint: string) => errors.config(message, hint, { field: 'cluster-secret-file' });
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw fail(`--cluster-secret-file ${path} does not exist`, howToCreate(path));
    throw fail(`cannot read --cluster-secret-file ${path}: ${(err as Error).message}`, 'check the path and its permissions');
  }
  if (!st.isFile()) throw fail(`--cluster-secret-file ${path} is not a regular file`, howToCreate(path));
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw fail(
      `--cluster-secret-file ${path} is accessible to other users (mode ${mode.toString(8).padStart(4, '0')}); the secret unlocks the fleet CA`,
      `restrict it to the server's user: chmod 600 ${path}`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw fail(`cannot read --cluster-secret-file ${path}: ${(err as Error).message}`, 'check the path and its permissions');
  }
  if (text === '') throw fail(`--cluster-secret-file ${path} is empty`, howToCreate(path));
  if (text.length < MIN_CLUSTER_SECRET_CHARS) {
    throw fail(`--cluster-secret-file ${path} holds ${text.length} characters, fewer than the ${MIN_CLUSTER_SECRET_CHARS} required`, howToCreate(path));
  }
  return Buffer.from(text, 'utf8');
}
