import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatImageReference, type ImageReference } from '@edgefleet/protocol';
import type { ImageRequest, ImageSource, PreparedImage } from '../packages/agent/src/images/types.js';
import { ImageError } from '../packages/agent/src/images/types.js';

/**
 * A tiny container image for the container runtime's tests, built without network from
 * Debian's busybox-static: a shell script behind `busybox nc -ll` serving the Open Inference
 * Protocol for y = x + $ADD, plus `/id`, where the image reports its uid, whether it could
 * write its root filesystem and /tmp, and the device nodes it sees. (The fuller builder of
 * multi-arch indexes for registry tests is test-support/oci/.)
 */

const HANDLER = `#!/bin/sh
read -r method path proto
len=0
while read -r line; do
  line=$(printf '%s' "$line" | tr -d '\\r')
  [ -z "$line" ] && break
  case "$line" in [Cc]ontent-[Ll]ength:*) len=$(echo "\${line#*:}" | tr -d ' ');; esac
done
body=''
[ "$len" -gt 0 ] && body=$(head -c "$len")
status='200 OK'
case "$path" in
  /v2/health/*) out='{}';;
  /id) w=refused; touch /written 2>/dev/null && w=written; t=refused; touch /tmp/x 2>/dev/null && t=written
       out="{\\"uid\\":$(id -u),\\"root\\":\\"$w\\",\\"tmp\\":\\"$t\\",\\"devices\\":\\"$(ls /dev | tr '\\n' ' ')\\"}";;
  /v2/models/*/infer)
    x=$(echo "$body" | sed -n 's/.*"data":\\[\\([-0-9]*\\)\\].*/\\1/p')
    out="{\\"model_name\\":\\"m\\",\\"outputs\\":[{\\"name\\":\\"y\\",\\"shape\\":[1],\\"datatype\\":\\"INT64\\",\\"data\\":[$((x + \${ADD:-0}))]}]}";;
  *) status='404 Not Found'; out='{}';;
esac
printf 'HTTP/1.1 %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' "$status" "\${#out}" "$out"
`;

const SERVE = `#!/bin/sh
echo "serving y = x + \${ADD:-0} on 8080"
exec nc -ll -p 8080 -e /bin/handle
`;

/** podman with a throwaway store under `dir` (runc, as this machine needs: docs/../shared/STACK.md). */
export interface TestPodman {
  dir: string;
  globalArgs: string[];
  env: Record<string, string>;
  /**
   * Runs podman with these arguments; its stdout. Asynchronous on purpose: the agent and the
   * server under test share the test's event loop, and a synchronous `podman inspect` (18 s
   * here on the vfs driver) froze both until their keep-alive clocks ran out together.
   */
  run(args: string[]): Promise<string>;
  /** The same, blocking: only for setup before any agent or server runs (building images). */
  runSync(args: string[]): string;
}

export function testPodman(dir: string): TestPodman {
  mkdirSync(dir, { recursive: true });
  const conf = join(dir, 'containers.conf');
  writeFileSync(conf, '[engine]\nruntime = "runc"\nevents_logger = "file"\n[containers]\nlog_driver = "k8s-file"\n');
  const globalArgs = ['--root', join(dir, 'root'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
  const env = { CONTAINERS_CONF: conf, XDG_RUNTIME_DIR: join(dir, 'xdg'), TMPDIR: join(dir, 'tmp') };
  mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 });
  mkdirSync(env.TMPDIR, { recursive: true });
  const argv = (args: string[]): string[] => [...globalArgs, '--runtime', 'runc', ...args];
  const options = { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, encoding: 'utf8' as const, maxBuffer: 64 * 1024 * 1024 };
  return {
    dir,
    globalArgs,
    env,
    run: (args) =>
      new Promise((resolve, reject) => {
        execFile('podman', argv(args), options, (err, stdout, stderr) => {
          if (err === null) resolve(stdout);
          else reject(Object.assign(err, { stdout, stderr }));
        });
      }),
    runSync: (args) => execFileSync('podman', argv(args), { ...options, stdio: ['ignore', 'pipe', 'pipe'] }),
  };
}

/** An image in OCI layout, with the digests a real image store would report. */
export interface TestImage {
  layoutDir: string;
  manifestDigest: string;
  configDigest: string;
  bytes: number;
}

/** Builds the OIP image with command `cmd` into an OCI layout dir (through a builder store of its own). */
export function buildOipImage(dir: string, name: string, cmd: string[]): TestImage {
  const rootfs = join(dir, 'rootfs');
  const tar = join(dir, 'rootfs.tar');
  if (!existsSync(tar)) {
    if (!existsSync('/bin/busybox')) throw new Error('the container tests need Debian busybox-static (/bin/busybox): apt-get install busybox-static');
    for (const d of ['bin', 'tmp', 'dev', 'proc', 'sys', 'etc']) mkdirSync(join(rootfs, d), { recursive: true });
    chmodSync(join(rootfs, 'tmp'), 0o1777);
    writeFileSync(join(rootfs, 'bin/busybox'), readFileSync('/bin/busybox'), { mode: 0o755 });
    for (const applet of ['sh', 'tr', 'head', 'sed', 'id', 'touch', 'ls', 'cat', 'echo', 'nc', 'sleep', 'printf'])
      symlinkSync('busybox', join(rootfs, 'bin', applet));
    writeFileSync(join(rootfs, 'bin/handle'), HANDLER, { mode: 0o755 });
    writeFileSync(join(rootfs, 'bin/serve'), SERVE, { mode: 0o755 });
    execFileSync('tar', ['-C', rootfs, '--owner=0', '--group=0', '-cf', tar, '.']);
  }
  const builder = testPodman(join(dir, 'builder'));
  const id = builder.runSync(['import', '--quiet', '--change', `CMD ${JSON.stringify(cmd)}`, tar, `localhost/test/${name}:1`]).trim();
  const layoutDir = join(dir, `layout-${name}`);
  builder.runSync(['push', '--quiet', id, `oci:${layoutDir}`]);
  const index = JSON.parse(readFileSync(join(layoutDir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const manifestDigest = index.manifests[0]?.digest as string;
  const manifest = JSON.parse(readFileSync(join(layoutDir, 'blobs/sha256', manifestDigest.slice(7)), 'utf8')) as {
    config: { digest: string; size: number };
    layers: { size: number }[];
  };
  return { layoutDir, manifestDigest, configDigest: manifest.config.digest, bytes: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0) };
}

/**
 * An image store holding the given images: what the real store (helper "oci") hands the
 * engine, a verified OCI layout; `fail` makes a reference fail with a reason.
 */
export class FakeImageSource implements ImageSource {
  readonly requests: ImageRequest[] = [];
  readonly fail = new Map<string, ImageError>();
  constructor(private readonly images: Map<string, TestImage>) {}

  async prepare(request: ImageRequest): Promise<PreparedImage> {
    this.requests.push(request);
    const key = formatImageReference(request.reference);
    const failure = this.fail.get(key);
    if (failure !== undefined) throw failure;
    const image = this.images.get(key);
    if (image === undefined) throw new ImageError('image-pull-failed', `no image ${key} in the test store`);
    return {
      pinnedDigest: request.reference.digest,
      manifestDigest: image.manifestDigest,
      configDigest: image.configDigest,
      platform: request.platform,
      bytes: image.bytes,
      layoutDir: image.layoutDir,
    };
  }

  prepared(reference: ImageReference, platform: string): PreparedImage | undefined {
    const image = this.images.get(formatImageReference(reference));
    if (image === undefined || this.fail.has(formatImageReference(reference))) return undefined;
    return {
      pinnedDigest: reference.digest,
      manifestDigest: image.manifestDigest,
      configDigest: image.configDigest,
      platform,
      bytes: image.bytes,
      layoutDir: image.layoutDir,
    };
  }

  async collect(): Promise<{ freedBytes: number }> {
    return { freedBytes: 0 };
  }
}
