import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EdgefleetError, errors } from '@edgefleet/protocol';
import { type OneCertificate, parseOneCertificate, writeFileDurable } from '@edgefleet/protocol/node';
import { z } from 'zod';

/**
 * The node's identity on disk, in the agent's data dir:
 *
 *     identity.json            which node we are and which key/cert pair is current
 *     ca.crt                   the fleet CA, pinned at enrollment from the token's fingerprint
 *                              (identity.json keeps that fingerprint; ca.crt is checked
 *                              against it at every start: exactly one certificate, same hash)
 *     node-<serial>.key        our private key, made here and never sent anywhere
 *     node-<serial>.crt        the client certificate the server issued for it
 *
 * All 0600, in a data dir that is 0700 (data-dir.ts), written through `writeFileDurable`.
 * identity.json is replaced atomically and written last, so a power cut in the middle of a
 * renewal leaves the previous, still valid key and certificate in use.
 */
export interface NodeIdentity {
  nodeId: string;
  name: string;
  /** Lowercase hex SHA-256 of the fleet CA's DER, from the bootstrap token. */
  caFingerprint: string;
  /** The fleet CA, re-encoded from its DER after its fingerprint was checked. */
  caPem: string;
  keyPem: string;
  certPem: string;
  /** Validity of the current certificate, ms since 1970. */
  notBefore: number;
  notAfter: number;
}

const FINGERPRINT = /^[0-9a-f]{64}$/;

/** identity.json. The file names are our own pattern: a tampered file cannot point outside the data dir. */
const IdentityFileSchema = z.object({
  version: z.literal(1),
  nodeId: z.string().min(1).max(200),
  name: z.string().min(1).max(200),
  /** Absent in an identity written by an older agent: computed once from ca.crt. */
  caFingerprint: z.string().regex(FINGERPRINT, 'must be 64 lowercase hex digits').optional(),
  keyFile: z.string().regex(/^node-[0-9a-f]{1,64}\.key$/, 'must be a file name like node-<serial>.key'),
  certFile: z.string().regex(/^node-[0-9a-f]{1,64}\.crt$/, 'must be a file name like node-<serial>.crt'),
});
type IdentityFile = z.infer<typeof IdentityFileSchema>;

/** Every file of the identity: private to the agent's user. */
const FILE_MODE = 0o600;

/** Reads and checks identity.json; throws an Error that names the problem (the caller adds the path and hint). */
function readIdentityFile(path: string): IdentityFile {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`identity.json is not valid JSON (${(err as Error).message}); a write was cut short or the file was edited`);
  }
  const parsed = IdentityFileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || '(the whole file)';
    throw new Error(`identity.json field ${field}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

/**
 * Loads the identity, or returns undefined on a node that has not enrolled yet. Checks
 * `ca.crt` against the pinned fingerprint first: a file that holds anything but the one
 * pinned certificate is refused with `server_untrusted` (terminal), since trusting it would
 * let whoever wrote it impersonate the server.
 */
export function loadIdentity(dataDir: string): NodeIdentity | undefined {
  const path = join(dataDir, 'identity.json');
  if (!existsSync(path)) return undefined;
  try {
    const file = readIdentityFile(path);
    const ca = pinnedCa(dataDir, file);
    const certPem = readFileSync(join(dataDir, file.certFile), 'utf8');
    const cert = parsedOr(() => new X509Certificate(certPem), `${file.certFile} is not a certificate`);
    const keyPem = readFileSync(join(dataDir, file.keyFile), 'utf8');
    parsedOr(() => createPrivateKey(keyPem), `${file.keyFile} is not a private key`);
    return {
      nodeId: file.nodeId,
      name: file.name,
      caFingerprint: ca.fingerprint,
      caPem: ca.pem,
      keyPem,
      certPem,
      notBefore: new Date(cert.validFrom).getTime(),
      notAfter: new Date(cert.validTo).getTime(),
    };
  } catch (err) {
    if (err instanceof EdgefleetError) throw err;
    throw errors.startupFailed(
      `the node identity in ${dataDir} is unreadable: ${(err as Error).message}`,
      `to enroll again, move ${path} away and start the agent with a new bootstrap token`,
      { cause: err },
    );
  }
}

/** Runs a parser; its error becomes one that names the file (OpenSSL's own messages name none). */
function parsedOr<T>(parse: () => T, what: string): T {
  try {
    return parse();
  } catch (err) {
    throw new Error(`${what} (${(err as Error).message})`);
  }
}

/**
 * The fleet CA from `ca.crt`, checked against the fingerprint pinned in identity.json. An
 * identity written by an older agent has no fingerprint: it is computed from `ca.crt` once
 * (only when that holds exactly one certificate) and written into identity.json.
 */
function pinnedCa(dataDir: string, file: IdentityFile): OneCertificate {
  const caPath = join(dataDir, 'ca.crt');
  const reEnroll = `re-enroll this node: move ${join(dataDir, 'identity.json')} away and start the agent with a new bootstrap token from "edgefleet token create"`;
  const text = readFileSync(caPath, 'utf8');
  let ca: OneCertificate;
  try {
    ca = parseOneCertificate(text);
  } catch (err) {
    const why = file.caFingerprint === undefined ? ' (identity.json, written by an older agent, pins no CA fingerprint to tell which is the fleet CA)' : '';
    throw errors.serverUntrusted(`${caPath} is not the one pinned fleet CA certificate: ${(err as Error).message}${why}`, reEnroll);
  }
  const pinned = file.caFingerprint;
  if (pinned === undefined) {
    writeFileDurable(join(dataDir, 'identity.json'), `${JSON.stringify({ ...file, caFingerprint: ca.fingerprint }, null, 2)}\n`, FILE_MODE);
    return ca;
  }
  if (ca.fingerprint !== pinned) {
    throw errors.serverUntrusted(
      `${caPath} holds a CA with fingerprint sha256:${ca.fingerprint}, but this node pinned sha256:${pinned} at enrollment`,
      reEnroll,
    );
  }
  return ca;
}

/** The CA to write to ca.crt: exactly one certificate, re-encoded, matching the pinned fingerprint. */
function pinnedCaPem(id: Pick<NodeIdentity, 'caPem' | 'caFingerprint'>): string {
  let ca: OneCertificate;
  try {
    ca = parseOneCertificate(id.caPem);
  } catch (err) {
    throw errors.serverUntrusted(`the fleet CA to save is not one certificate: ${(err as Error).message}`, 'enroll again with a new bootstrap token');
  }
  if (ca.fingerprint !== id.caFingerprint) {
    throw errors.serverUntrusted(
      `the fleet CA to save has fingerprint sha256:${ca.fingerprint}, but this node pinned sha256:${id.caFingerprint}`,
      'enroll again with a new bootstrap token',
    );
  }
  return ca.pem;
}

/** Saves a new key/certificate pair (and the CA on first save), then switches identity.json to it. */
export function saveIdentity(dataDir: string, id: Omit<NodeIdentity, 'notBefore' | 'notAfter'>): NodeIdentity {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const cert = new X509Certificate(id.certPem);
  const serial = cert.serialNumber.toLowerCase();
  const keyFile = `node-${serial}.key`;
  const certFile = `node-${serial}.crt`;
  // The files of the identity being replaced, to remove once the new one is in place; an
  // unreadable old identity.json is being replaced anyway (enrollment after a corrupt one).
  let previous: IdentityFile | undefined;
  try {
    previous = existsSync(join(dataDir, 'identity.json')) ? readIdentityFile(join(dataDir, 'identity.json')) : undefined;
  } catch {
    previous = undefined;
  }
  writeFileDurable(join(dataDir, keyFile), id.keyPem, FILE_MODE);
  writeFileDurable(join(dataDir, certFile), id.certPem, FILE_MODE);
  writeFileDurable(join(dataDir, 'ca.crt'), pinnedCaPem(id), FILE_MODE);
  const file: IdentityFile = { version: 1, nodeId: id.nodeId, name: id.name, caFingerprint: id.caFingerprint, keyFile, certFile };
  writeFileDurable(join(dataDir, 'identity.json'), `${JSON.stringify(file, null, 2)}\n`, FILE_MODE);
  if (previous !== undefined && previous.keyFile !== keyFile) {
    rmSync(join(dataDir, previous.keyFile), { force: true });
    rmSync(join(dataDir, previous.certFile), { force: true });
  }
  return { ...id, notBefore: new Date(cert.validFrom).getTime(), notAfter: new Date(cert.validTo).getTime() };
}
