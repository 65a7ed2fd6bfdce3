import { createPublicKey, generateKeyPair, type KeyObject, sign } from 'node:crypto';
import { promisify } from 'node:util';
import { bitString, contextTag, oid, pem, printableString, sequence, set, smallInteger } from './der.js';

/** A fresh node key and a CSR for it. The key never leaves the node. */
interface KeyAndCsr {
  keyPem: string;
  csrPem: string;
}

const COMMON_NAME = '2.5.4.3';
const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** The server names the certificate after the node id it assigns; the CSR's subject is a placeholder. */
const SUBJECT_CN = 'edgefleet-node';

const newEcKeyPair = promisify(generateKeyPair);

/**
 * Makes a new ECDSA P-256 key pair and a PKCS#10 request (RFC 2986) signed by it, with
 * `node:crypto` alone: an X.509 library loaded for this once-a-renewal job would stay in the
 * idle agent's memory for good.
 */
export async function newKeyAndCsr(): Promise<KeyAndCsr> {
  const { privateKey } = await newEcKeyPair('ec', { namedCurve: 'P-256' });
  return csrForKey(privateKey);
}

/** A CSR for a key the node already has (an enrollment repeated with the same key). */
export function csrForKey(privateKey: KeyObject): KeyAndCsr {
  const publicKey = createPublicKey(privateKey);
  return { keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, csrPem: pkcs10(privateKey, publicKey) };
}

/** CertificationRequest DER in PEM: subject CN, the key's SubjectPublicKeyInfo, no attributes. */
function pkcs10(privateKey: KeyObject, publicKey: KeyObject): string {
  const info = sequence(
    smallInteger(0), // version v1
    sequence(set(sequence(oid(COMMON_NAME), printableString(SUBJECT_CN)))),
    publicKey.export({ type: 'spki', format: 'der' }),
    contextTag(0), // attributes: none
  );
  // node:crypto signs EC keys in DER (ECDSA-Sig-Value) by default, which is what X.509 wants.
  const signature = sign('sha256', info, { key: privateKey, dsaEncoding: 'der' });
  return pem('CERTIFICATE REQUEST', sequence(info, sequence(oid(ECDSA_WITH_SHA256)), bitString(signature)));
}
