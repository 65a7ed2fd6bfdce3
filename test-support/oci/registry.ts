import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RegistryAccess } from '@edgefleet/protocol';
import { createCertificateAuthority, issueServerCertificate } from '../../packages/server/src/pki/ca.js';
import { freePort } from '../ports.js';

/**
 * A throwaway OCI registry for tests and benches: Debian's `docker-registry` (Distribution
 * 2.8) on a free 127.0.0.1 port, TLS from a fresh test CA (certificate for `127.0.0.1` and
 * `localhost`), basic auth from an htpasswd file (bcrypt, as Distribution requires), and
 * filesystem storage in a temp dir. Stopped by PID; its directory is deleted.
 *
 *     const registry = await startRegistry();
 *     const pushed = await pushImage(registry, 'team/detector', buildOipImage({ c: 1 }));
 *     const store = new ImageStore({ dataDir });
 *     await store.prepare({ reference: registry.reference('team/detector', pushed.digest), access: registry.access(), platform: 'linux/amd64' });
 */
export interface TestRegistry {
  /** `127.0.0.1:PORT`: the host part of image references. */
  host: string;
  /** `https://127.0.0.1:PORT`. */
  url: string;
  /** PEM of the CA that signed the registry's certificate. */
  caPem: string;
  username: string;
  password: string;
  /** Distribution's storage root (`docker/registry/v2/…` below it). */
  storageDir: string;
  /** The registry entry a node gets (`DesiredState.registries`); override any field, e.g. a wrong password. */
  access(overrides?: Partial<RegistryAccess>): RegistryAccess;
  /** `127.0.0.1:PORT/<repository>@<digest>`. */
  reference(repository: string, digest: string): string;
  /** The file Distribution serves a blob from: corrupt it to test verification. */
  blobDataPath(digest: string): string;
  stop(): Promise<void>;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** Default `edgefleet`. */
  username?: string;
  /** Default: random. */
  password?: string;
  /** `false`: anonymous pulls and pushes (no htpasswd). Default true. */
  auth?: boolean;
}

const BIN = process.env.EDGEFLEET_REGISTRY_BIN ?? '/usr/bin/docker-registry';

/** A bcrypt htpasswd line, from `htpasswd -B` (apache2-utils). */
function htpasswdLine(username: string, password: string): string {
  try {
    return execFileSync('htpasswd', ['-nbB', '-C', '5', username, password], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('htpasswd not found: install it with `apt-get install -y apache2-utils` (Distribution needs bcrypt password hashes)');
  }
}

/** Starts the registry and waits until `GET /v2/` answers (at most 20 s). */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  if (!existsSync(BIN)) {
    throw new Error(
      `docker-registry not found at ${BIN}: install it with \`apt-get install -y docker-registry\` (Distribution 2.8), or set EDGEFLEET_REGISTRY_BIN`,
    );
  }
  const username = opts.username ?? 'edgefleet';
  const password = opts.password ?? randomBytes(12).toString('base64url');
  const auth = opts.auth ?? true;
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-registry-'));
  const storageDir = join(dir, 'storage');
  const ca = await createCertificateAuthority(new Date());
  const tls = await issueServerCertificate(ca, { dns: ['localhost'], ips: ['127.0.0.1'] }, new Date());
  writeFileSync(join(dir, 'tls.crt'), tls.certPem);
  writeFileSync(join(dir, 'tls.key'), tls.keyPem, { mode: 0o600 });
  if (auth) writeFileSync(join(dir, 'htpasswd'), `${htpasswdLine(username, password)}\n`);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${storageDir}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    '  tls:',
    `    certificate: ${join(dir, 'tls.crt')}`,
    `    key: ${join(dir, 'tls.key')}`,
    ...(auth ? ['auth:', '  htpasswd:', '    realm: edgefleet-test', `    path: ${join(dir, 'htpasswd')}`] : []),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn(BIN, ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`docker-registry exited at start: ${stderr.trim()}`);
    }
    const status = await probe(host, ca.certPem).catch(() => 0);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not answer on ${host} within 20 s: ${stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    host,
    url: `https://${host}`,
    caPem: ca.certPem,
    username,
    password,
    storageDir,
    access: (overrides = {}) => ({
      name: 'test-registry',
      server: `https://${host}`,
      caPem: ca.certPem,
      username: auth ? username : null,
      password: auth ? password : null,
      ...overrides,
    }),
    reference: (repository, digest) => `${host}/${repository}@${digest}`,
    blobDataPath: (digest) => {
      const hex = digest.replace(/^sha256:/, '');
      return join(storageDir, 'docker', 'registry', 'v2', 'blobs', 'sha256', hex.slice(0, 2), hex, 'data');
    },
    stop,
  };
}

function probe(host: string, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`https://${host}/v2/`, { ca, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}
