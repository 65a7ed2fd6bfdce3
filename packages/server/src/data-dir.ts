import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { certificateFingerprint, writeFileDurable } from '@edgefleet/protocol/node';
import { type CertificateAuthority, createCertificateAuthority, issueServerCertificate } from './pki/ca.js';

/**
 * The server's data dir holds what must survive restarts and never enters the database:
 *
 *     ca.crt  ca.key (0600)         the fleet CA
 *     server.crt  server.key (0600) the HTTPS certificate, reissued when names change or it nears expiry
 *     admin.token (0600)            the first admin API token, written once
 *     fleet.db                      the default SQLite store
 *
 * Replicas on PostgreSQL given `--cluster-secret-file` keep no key in it: the CA and the
 * registry-password key are in the database, sealed under the cluster secret
 * (cluster/material.ts), and each replica's server certificate is issued at start and kept
 * in memory ({@link clusterDataDir}); only the public `ca.crt` is written here.
 */
export interface DataDir {
  path: string;
  ca: CertificateAuthority;
  caFingerprint: string;
  serverCertPem: string;
  serverKeyPem: string;
}

/** DNS names and IPs the server certificate covers: loopback, this host, and `--hostname`s. */
function serverNames(extra: string[]): { dns: string[]; ips: string[] } {
  const all = new Set(['localhost', hostname(), '127.0.0.1', '::1', ...extra.filter((h) => h !== '')]);
  const dns = [...all].filter((h) => isIP(h) === 0).sort();
  const ips = [...all].filter((h) => isIP(h) !== 0).sort();
  return { dns, ips };
}

function certCovers(pem: string, names: { dns: string[]; ips: string[] }, now: number): boolean {
  const cert = new X509Certificate(pem);
  // Reissue 30 days before expiry so a long-running server never serves an expired cert.
  if (new Date(cert.validTo).getTime() - now < 30 * 86_400_000) return false;
  const san = cert.subjectAltName ?? '';
  return (
    names.dns.every((d) => san.includes(`DNS:${d}`)) &&
    names.ips.every((ip) => san.includes(`IP Address:${ip.toUpperCase()}`) || san.includes(`IP Address:${ip}`))
  );
}

/** Loads the data dir, creating the CA and server certificate on first start. */
export async function loadOrCreateDataDir(path: string, extraHostnames: string[], now: number): Promise<DataDir> {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const caCrt = join(path, 'ca.crt');
  const caKey = join(path, 'ca.key');
  let ca: CertificateAuthority;
  if (existsSync(caCrt) && existsSync(caKey)) {
    ca = { certPem: readFileSync(caCrt, 'utf8'), keyPem: readFileSync(caKey, 'utf8') };
  } else {
    ca = await createCertificateAuthority(new Date(now));
    writeFileDurable(caKey, ca.keyPem, 0o600);
    writeFileDurable(caCrt, ca.certPem, 0o644);
  }
  const names = serverNames(extraHostnames);
  const srvCrt = join(path, 'server.crt');
  const srvKey = join(path, 'server.key');
  let serverCertPem: string;
  let serverKeyPem: string;
  if (existsSync(srvCrt) && existsSync(srvKey) && certCovers(readFileSync(srvCrt, 'utf8'), names, now)) {
    serverCertPem = readFileSync(srvCrt, 'utf8');
    serverKeyPem = readFileSync(srvKey, 'utf8');
  } else {
    const issued = await issueServerCertificate(ca, names, new Date(now));
    writeFileDurable(srvKey, issued.keyPem, 0o600);
    writeFileDurable(srvCrt, issued.certPem, 0o644);
    serverCertPem = issued.certPem;
    serverKeyPem = issued.keyPem;
  }
  return { path, ca, caFingerprint: certificateFingerprint(ca.certPem), serverCertPem, serverKeyPem };
}

/**
 * The data dir of a replica on PostgreSQL: the CA comes from the database (sealed under the
 * cluster secret), and the server certificate is issued here, at every start, from that
 * shared CA, for this replica's names (loopback, its host name and its `--hostname`s), and
 * kept in memory only. Per replica, not one certificate shared through the database:
 * replicas never race to rewrite a shared certificate when their names differ, no server
 * key is stored anywhere, and agents trust any replica because they verify against the
 * CA, not a certificate. So the name agents use through the load balancer must be among
 * the `--hostname`s of every replica (docs/OPERATIONS.md, "The cluster secret"). Only the
 * public `ca.crt` is written to disk, for `caCertPath`.
 */
export async function clusterDataDir(path: string, ca: CertificateAuthority, extraHostnames: string[], now: number): Promise<DataDir> {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const caCrt = join(path, 'ca.crt');
  if (!existsSync(caCrt) || readFileSync(caCrt, 'utf8') !== ca.certPem) writeFileDurable(caCrt, ca.certPem, 0o644);
  const issued = await issueServerCertificate(ca, serverNames(extraHostnames), new Date(now));
  return { path, ca, caFingerprint: certificateFingerprint(ca.certPem), serverCertPem: issued.certPem, serverKeyPem: issued.keyPem };
}
