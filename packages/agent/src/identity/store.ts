import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { errors } from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';

/**
 * The node's identity on disk, in the agent's data dir:
 *
 *     identity.json            which node we are and which key/cert pair is current
 *     ca.crt                   the fleet CA, pinned at enrollment from the token's fingerprint
 *     node-<serial>.key (0600) our private key, made here and never sent anywhere
 *     node-<serial>.crt        the client certificate the server issued for it
 *
 * identity.json is replaced atomically and written last, so a power cut in the middle of a
 * renewal leaves the previous, still valid key and certificate in use.
 */
export interface NodeIdentity {
  nodeId: string;
  name: string;
  caFingerprint: string;
  caPem: string;
  keyPem: string;
  certPem: string;
  /** Validity of the current certificate, ms since 1970. */
  notBefore: number;
  notAfter: number;
}

interface IdentityFile {
  version: 1;
  nodeId: string;
  name: string;
  caFingerprint: string;
  keyFile: string;
  certFile: string;
}

/** Loads the identity, or returns undefined on a node that has not enrolled yet. */
export function loadIdentity(dataDir: string): NodeIdentity | undefined {
  const path = join(dataDir, 'identity.json');
  if (!existsSync(path)) return undefined;
  try {
    const file = JSON.parse(readFileSync(path, 'utf8')) as IdentityFile;
    const certPem = readFileSync(join(dataDir, file.certFile), 'utf8');
    const cert = new X509Certificate(certPem);
    return {
      nodeId: file.nodeId,
      name: file.name,
      caFingerprint: file.caFingerprint,
      caPem: readFileSync(join(dataDir, 'ca.crt'), 'utf8'),
      keyPem: readFileSync(join(dataDir, file.keyFile), 'utf8'),
      certPem,
      notBefore: new Date(cert.validFrom).getTime(),
      notAfter: new Date(cert.validTo).getTime(),
    };
  } catch (err) {
    throw errors.startupFailed(
      `the node identity in ${dataDir} is unreadable: ${(err as Error).message}`,
      `to enroll again, move ${path} away and start the agent with a new bootstrap token`,
      { cause: err },
    );
  }
}

/** Saves a new key/certificate pair (and the CA on first save), then switches identity.json to it. */
export function saveIdentity(dataDir: string, id: Omit<NodeIdentity, 'notBefore' | 'notAfter'>): NodeIdentity {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const cert = new X509Certificate(id.certPem);
  const serial = cert.serialNumber.toLowerCase();
  const keyFile = `node-${serial}.key`;
  const certFile = `node-${serial}.crt`;
  const previous = existsSync(join(dataDir, 'identity.json')) ? (JSON.parse(readFileSync(join(dataDir, 'identity.json'), 'utf8')) as IdentityFile) : undefined;
  writeFileDurable(join(dataDir, keyFile), id.keyPem, 0o600);
  writeFileDurable(join(dataDir, certFile), id.certPem, 0o644);
  writeFileDurable(join(dataDir, 'ca.crt'), id.caPem, 0o644);
  const file: IdentityFile = { version: 1, nodeId: id.nodeId, name: id.name, caFingerprint: id.caFingerprint, keyFile, certFile };
  writeFileDurable(join(dataDir, 'identity.json'), `${JSON.stringify(file, null, 2)}\n`, 0o644);
  if (previous !== undefined && previous.keyFile !== keyFile) {
    rmSync(join(dataDir, previous.keyFile), { force: true });
    rmSync(join(dataDir, previous.certFile), { force: true });
  }
  return { ...id, notBefore: new Date(cert.validFrom).getTime(), notAfter: new Date(cert.validTo).getTime() };
}
