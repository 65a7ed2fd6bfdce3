import { createCipheriv, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { gzipSync } from 'node:zlib';
import type { TestRegistry } from './registry.js';
import { tarArchive } from './tar.js';

/**
 * Test images built in memory with no network (issue 16): an OCI image index with a
 * `linux/amd64` manifest whose root filesystem is Debian's static busybox serving the Open
 * Inference Protocol for the model y = x + c, and a `linux/arm64` manifest whose layer is a
 * placeholder that is never run here. Same options → same bytes → same digests.
 *
 * The amd64 image runs `/oip/serve`: `busybox nc -ll -p $PORT -e /oip/handler`, one shell
 * handler per connection. It answers
 * - `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/<name>/ready`: 200 `{}`;
 * - `GET /v2/models/<name>`: model metadata;
 * - `POST /v2/models/<name>/infer` with `{"inputs":[{"name":"x","datatype":"FP32","shape":[n],"data":[…]}]}`:
 *   200 `{"model_name":…,"model_version":"1","outputs":[{"name":"y","datatype":"FP32","shape":[n],"data":[x+c,…]}]}`;
 * - anything else: 404. Every answer closes the connection.
 * Environment: `PORT` (default 8080), `MODEL_NAME` (default the image's `modelName`).
 * It logs one line to stdout when it starts; with `crash: true` it logs to stderr and exits 3.
 * It writes nothing, so it runs with a read-only root filesystem as any user.
 */

/** A blob of an image: its bytes and media type. */
export interface TestBlob {
  mediaType: string;
  bytes: Buffer;
}

/** One platform's manifest of a built image. */
export interface TestPlatformImage {
  platform: string;
  manifestDigest: string;
  configDigest: string;
  layerDigests: string[];
}

/** A built image: what to push, and the digests to pin. */
export interface TestImage {
  /** The digest releases pin: the image index (or the single manifest when `platforms` had one entry and `index: false`). */
  digest: string;
  mediaType: string;
  platforms: TestPlatformImage[];
  /** Every blob and manifest by digest; the pinned document is `blobs.get(digest)`. */
  blobs: Map<string, TestBlob>;
  /** Sum of the sizes of the amd64 config and layers (what a pull moves). */
  amd64Bytes: number;
}

/** Options of {@link buildOipImage}. */
export interface OipImageOptions {
  /** The model's constant: y = x + c. Different c → a different small layer (a new revision). */
  c: number;
  /** Default `adder`. */
  modelName?: string;
  /** Default 8080. */
  port?: number;
  /**
   * Extra incompressible layers under `/bulk/` (for the pull bench): each `mb` MB of
   * pseudo-random bytes from `seed`. Change one seed and only that layer changes.
   */
  bulkLayers?: { mb: number; seed: string }[];
  /** Leave out the arm64 manifest (the index then has only linux/amd64). */
  amd64Only?: boolean;
  /** Push a bare image manifest instead of an index (only with `amd64Only`). */
  noIndex?: boolean;
  /** Build an image whose entrypoint exits 3 at once (a crashing revision). */
  crash?: boolean;
  /** Where busybox is read from; default /bin/busybox (Debian's busybox-static). */
  busyboxPath?: string;
}

const OCI = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  tar: 'application/vnd.oci.image.layer.v1.tar',
  tarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

const SERVE = `#!/bin/sh
# PID 1 of the container: a shell that stops at SIGTERM (nc as PID 1 would ignore it).
. /oip/model.env
if [ -n "$CRASH" ]; then
  echo "oip: this image is built to crash (exit 3)" >&2
  exit 3
fi
trap 'kill "$pid" 2>/dev/null; exit 0' TERM INT
echo "oip: serving model $DEFAULT_MODEL_NAME (y = x + $C) on port \${PORT:-8080}"
# One handler process per connection; -ll keeps listening after each.
/bin/busybox nc -ll -p "\${PORT:-8080}" -e /oip/handler &
pid=$!
wait "$pid"
`;

const HANDLER = `#!/bin/sh
# Serves one HTTP/1.1 request of the Open Inference Protocol (y = x + c), then closes.
. /oip/model.env
name="\${MODEL_NAME:-$DEFAULT_MODEL_NAME}"
cr=$(printf '\\r')
read -r method path version
len=0
while read -r line; do
  line="\${line%"$cr"}"
  [ -z "$line" ] && break
  case "$line" in
    [Cc]ontent-[Ll]ength:*) len="\${line#*:}"; len="\${len# }" ;;
  esac
done
respond() {
  printf 'HTTP/1.1 %s\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\nConnection: close\\r\\n\\r\\n%s' "$1" "\${#2}" "$2"
}
case "$method $path" in
  "GET /v2/health/live"|"GET /v2/health/ready"|"GET /v2/models/$name/ready")
    respond "200 OK" "{}" ;;
  "GET /v2/models/$name")
    respond "200 OK" "{\\"name\\":\\"$name\\",\\"versions\\":[\\"1\\"],\\"platform\\":\\"busybox-sh\\",\\"inputs\\":[{\\"name\\":\\"x\\",\\"datatype\\":\\"FP32\\",\\"shape\\":[-1]}],\\"outputs\\":[{\\"name\\":\\"y\\",\\"datatype\\":\\"FP32\\",\\"shape\\":[-1]}]}" ;;
  "POST /v2/models/$name/infer")
    body=$(/bin/busybox head -c "$len")
    nums=$(printf '%s' "$body" | /bin/busybox sed -n 's/.*"data"[[:space:]]*:[[:space:]]*\\[\\([^]]*\\)\\].*/\\1/p')
    if [ -z "$nums" ]; then
      respond "400 Bad Request" '{"error":"expected {\\"inputs\\":[{\\"name\\":\\"x\\",\\"data\\":[numbers]}]}"}'
    else
      out=$(/bin/busybox awk -v c="$C" -v s="$nums" 'BEGIN { n = split(s, a, ","); for (i = 1; i <= n; i++) printf "%s%.9g", (i > 1 ? "," : ""), a[i] + c; printf " %d", n }')
      data="\${out% *}"
      count="\${out##* }"
      respond "200 OK" "{\\"model_name\\":\\"$name\\",\\"model_version\\":\\"1\\",\\"outputs\\":[{\\"name\\":\\"y\\",\\"datatype\\":\\"FP32\\",\\"shape\\":[$count],\\"data\\":[$data]}]}"
    fi ;;
  *)
    respond "404 Not Found" '{"error":"not found"}' ;;
esac
`;

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** `mb` MB of pseudo-random (incompressible) bytes, the same for the same seed (AES-256-CTR of zeros). */
export function pseudoRandomBytes(mb: number, seed: string): Buffer {
  const key = createHash('sha256').update(`key:${seed}`).digest();
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(Math.round(mb * 1024 * 1024))), cipher.final()]);
}

/** Builds the OIP test image (see the module comment). */
export function buildOipImage(opts: OipImageOptions): TestImage {
  const modelName = opts.modelName ?? 'adder';
  const port = opts.port ?? 8080;
  const busybox = readFileSync(opts.busyboxPath ?? '/bin/busybox');
  const blobs = new Map<string, TestBlob>();
  const put = (mediaType: string, bytes: Buffer): string => {
    const digest = digestOf(bytes);
    blobs.set(digest, { mediaType, bytes });
    return digest;
  };
  const layer = (tar: Buffer, gzip: boolean) => {
    const bytes = gzip ? gzipSync(tar, { level: 9 }) : tar;
    const mediaType = gzip ? OCI.tarGzip : OCI.tar;
    return { digest: put(mediaType, bytes), diffId: digestOf(tar), size: bytes.length, mediaType };
  };
  const platforms: TestPlatformImage[] = [];
  const manifests: { mediaType: string; digest: string; size: number; platform: Record<string, string> }[] = [];
  const addPlatform = (platform: Record<string, string>, layers: ReturnType<typeof layer>[], entrypoint: string[]) => {
    const config = Buffer.from(
      JSON.stringify({
        created: '2024-01-01T00:00:00Z',
        ...platform,
        config: { Entrypoint: entrypoint, Env: ['PATH=/bin', `PORT=${port}`], ExposedPorts: { [`${port}/tcp`]: {} }, WorkingDir: '/' },
        rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      }),
    );
    const configDigest = put(OCI.config, config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI.manifest,
        config: { mediaType: OCI.config, digest: configDigest, size: config.length },
        layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      }),
    );
    const manifestDigest = put(OCI.manifest, manifest);
    const name = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
    platforms.push({ platform: name, manifestDigest, configDigest, layerDigests: layers.map((l) => l.digest) });
    manifests.push({ mediaType: OCI.manifest, digest: manifestDigest, size: manifest.length, platform });
    return config.length + layers.reduce((sum, l) => sum + l.size, 0);
  };

  const runtime = layer(
    tarArchive([
      { type: 'dir', path: 'bin' },
      { type: 'file', path: 'bin/busybox', content: busybox, mode: 0o755 },
      { type: 'symlink', path: 'bin/sh', target: 'busybox' },
      { type: 'dir', path: 'oip' },
      { type: 'file', path: 'oip/serve', content: SERVE, mode: 0o755 },
      { type: 'file', path: 'oip/handler', content: HANDLER, mode: 0o755 },
    ]),
    true,
  );
  const model = layer(
    tarArchive([
      { type: 'dir', path: 'oip' },
      { type: 'file', path: 'oip/model.env', content: `C=${opts.c}\nDEFAULT_MODEL_NAME=${modelName}\n${opts.crash ? 'CRASH=1\n' : ''}` },
    ]),
    false,
  );
  const bulk = (opts.bulkLayers ?? []).map((b, i) =>
    layer(
      tarArchive([
        { type: 'dir', path: 'bulk' },
        { type: 'file', path: `bulk/${i}.bin`, content: pseudoRandomBytes(b.mb, b.seed) },
      ]),
      false,
    ),
  );
  const amd64Bytes = addPlatform({ architecture: 'amd64', os: 'linux' }, [runtime, ...bulk, model], ['/oip/serve']);
  if (!opts.amd64Only) {
    const placeholder = layer(tarArchive([{ type: 'file', path: 'ARM64-NOT-RUN-HERE', content: `arm64 placeholder for c=${opts.c}\n` }]), true);
    addPlatform({ architecture: 'arm64', os: 'linux', variant: 'v8' }, [placeholder], ['/oip/serve']);
  }
  if (opts.noIndex) {
    if (!opts.amd64Only) throw new Error('noIndex needs amd64Only: a bare manifest holds one platform');
    const only = platforms[0] as TestPlatformImage;
    return { digest: only.manifestDigest, mediaType: OCI.manifest, platforms, blobs, amd64Bytes };
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI.index, manifests }));
  return { digest: put(OCI.index, index), mediaType: OCI.index, platforms, blobs, amd64Bytes };
}

/** What {@link pushImage} returns. */
export interface PushedImage {
  /** The pinned digest. */
  digest: string;
  /** `127.0.0.1:PORT/<repository>@<digest>`. */
  reference: string;
}

/**
 * Pushes a built image over the distribution API (monolithic uploads: POST then PUT with
 * `?digest=`; blobs the registry already has are skipped), then its manifests by digest and
 * the pinned document under `tag` (default `latest`).
 */
export async function pushImage(registry: TestRegistry, repository: string, image: TestImage, opts: { tag?: string } = {}): Promise<PushedImage> {
  const documents = new Set([
    OCI.index,
    OCI.manifest,
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
  ]);
  for (const [digest, blob] of image.blobs) {
    if (!documents.has(blob.mediaType)) await pushBlob(registry, repository, digest, blob.bytes);
  }
  for (const p of image.platforms) {
    const m = image.blobs.get(p.manifestDigest) as TestBlob;
    await putManifest(registry, repository, p.manifestDigest, m);
  }
  const pinned = image.blobs.get(image.digest) as TestBlob;
  await putManifest(registry, repository, image.digest, pinned);
  await putManifest(registry, repository, opts.tag ?? 'latest', pinned);
  return { digest: image.digest, reference: registry.reference(repository, image.digest) };
}

/** Uploads one blob unless the registry has it. */
export async function pushBlob(registry: TestRegistry, repository: string, digest: string, bytes: Buffer): Promise<void> {
  const head = await registryRequest(registry, 'HEAD', `/v2/${repository}/blobs/${digest}`);
  if (head.status === 200) return;
  const start = await registryRequest(registry, 'POST', `/v2/${repository}/blobs/uploads/`);
  const location = start.headers.location;
  if (start.status !== 202 || typeof location !== 'string') throw new Error(`starting an upload to ${repository} answered HTTP ${start.status}: ${start.body}`);
  const url = new URL(location, registry.url);
  url.searchParams.set('digest', digest);
  const put = await registryRequest(registry, 'PUT', `${url.pathname}${url.search}`, bytes, { 'content-type': 'application/octet-stream' });
  if (put.status !== 201) throw new Error(`uploading blob ${digest} to ${repository} answered HTTP ${put.status}: ${put.body}`);
}

async function putManifest(registry: TestRegistry, repository: string, reference: string, blob: TestBlob): Promise<void> {
  const res = await registryRequest(registry, 'PUT', `/v2/${repository}/manifests/${reference}`, blob.bytes, { 'content-type': blob.mediaType });
  if (res.status !== 201) throw new Error(`pushing manifest ${reference} to ${repository} answered HTTP ${res.status}: ${res.body}`);
}

/** A P-256 key pair as cosign makes them (`cosign generate-key-pair`), PEM. */
export function cosignKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/**
 * Pushes a cosign signature of `digest` the way `cosign sign --key` stores it (cosign is
 * not installable here, so this writes its format with node:crypto): the simple-signing
 * payload `{"critical":{"identity":{"docker-reference":…},"image":{"docker-manifest-digest":…},
 * "type":"cosign container image signature"},"optional":null}` as the one layer
 * (`application/vnd.dev.cosign.simplesigning.v1+json`) of an OCI manifest tagged
 * `sha256-<hex>.sig`, the ECDSA P-256/SHA-256 signature of the payload bytes (DER, base64)
 * in its annotation `dev.cosignproject.cosign/signature`. `signedDigest` (default `digest`)
 * lets a test sign one digest and store it under another's tag.
 */
export async function pushCosignSignature(
  registry: TestRegistry,
  repository: string,
  digest: string,
  privateKeyPem: string | KeyObject,
  opts: { signedDigest?: string } = {},
): Promise<void> {
  const key = typeof privateKeyPem === 'string' ? createPrivateKey(privateKeyPem) : privateKeyPem;
  const payload = Buffer.from(
    JSON.stringify({
      critical: {
        identity: { 'docker-reference': `${registry.host}/${repository}` },
        image: { 'docker-manifest-digest': opts.signedDigest ?? digest },
        type: 'cosign container image signature',
      },
      optional: null,
    }),
  );
  const signature = sign('sha256', payload, key).toString('base64');
  const payloadDigest = digestOf(payload);
  await pushBlob(registry, repository, payloadDigest, payload);
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: [{ created: '0001-01-01T00:00:00Z' }],
      os: '',
      rootfs: { type: 'layers', diff_ids: [payloadDigest] },
      config: {},
    }),
  );
  const configDigest = digestOf(config);
  await pushBlob(registry, repository, configDigest, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI.manifest,
      config: { mediaType: OCI.config, size: config.length, digest: configDigest },
      layers: [
        {
          mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
          size: payload.length,
          digest: payloadDigest,
          annotations: { 'dev.cosignproject.cosign/signature': signature },
        },
      ],
    }),
  );
  await putManifest(registry, repository, `${digest.replace(':', '-')}.sig`, { mediaType: OCI.manifest, bytes: manifest });
}

/** The PEM public key of a PEM private key. */
export function publicKeyOf(privateKeyPem: string): string {
  return createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }) as string;
}

/** One authenticated request to the registry (Basic, preemptively). */
export function registryRequest(
  registry: TestRegistry,
  method: string,
  path: string,
  body?: Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const auth = `Basic ${Buffer.from(`${registry.username}:${registry.password}`).toString('base64')}`;
  return new Promise((resolve, reject) => {
    const req = request(
      `${registry.url}${path}`,
      { method, ca: registry.caPem, headers: { authorization: auth, ...headers, ...(body ? { 'content-length': String(body.length) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
