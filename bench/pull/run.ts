/**
 * Image pull: what the node's image store moves for a container release and its next
 * revision (issue 16).
 *
 *   npm run bench:pull [-- --layers 10 --layer-mb 5]
 *
 * Starts a real registry (Debian's docker-registry, TLS and basic auth, test-support/oci),
 * pushes a ~50 MB image (the busybox OIP test image plus `--layers` incompressible layers of
 * `--layer-mb` MB) and a second revision in which one of those layers changed, then pulls
 * both with the agent's `ImageStore` into a fresh data dir through a TCP relay that counts
 * the bytes on the socket (TLS and HTTP included; both directions). Pushing is not timed.
 *
 * Prints the figures, then one JSON line
 * `{"imageMb":x,"seconds":x,"bytesPerRolloutOfSecondRevision":x}`: the image's size (config
 * and layers, MiB), the first pull's wall time, and the bytes the second pull moved (counted
 * on the socket, not computed). Not a test: nothing here passes or fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseImageReference } from '@edgefleet/protocol';
import { ImageStore } from '../../packages/agent/src/images/index.js';
import { buildOipImage, pushImage, startRegistry, startTcpProxy } from '../../test-support/oci/index.js';
import { benchArgs } from '../lib/args.js';
import { machineLine, round } from '../lib/proc-stats.js';

const values = benchArgs('npm run bench:pull [-- --layers 10 --layer-mb 5]', {
  layers: { type: 'string', default: '10' },
  'layer-mb': { type: 'string', default: '5' },
});
const LAYERS = Number(values.layers);
const LAYER_MB = Number(values['layer-mb']);
if (!(Number.isInteger(LAYERS) && LAYERS >= 1 && LAYER_MB > 0)) {
  console.error('--layers must be a whole number ≥ 1 and --layer-mb a positive number');
  process.exit(2);
}

const MiB = 1024 * 1024;
const bulk = (changed: boolean) =>
  Array.from({ length: LAYERS }, (_, i) => ({ mb: LAYER_MB, seed: i === LAYERS - 1 && changed ? `layer-${i}-revision-2` : `layer-${i}` }));

const registry = await startRegistry();
const relay = await startTcpProxy(registry.host);
const dataDir = mkdtempSync(join(tmpdir(), 'edgefleet-bench-pull-'));
try {
  const first = buildOipImage({ c: 1, bulkLayers: bulk(false) });
  const second = buildOipImage({ c: 1, bulkLayers: bulk(true) });
  await pushImage(registry, 'bench/detector', first, { tag: 'r1' });
  await pushImage(registry, 'bench/detector', second, { tag: 'r2' });
  const changedLayer = second.platforms[0]?.layerDigests[LAYERS] as string;
  const changedBytes = second.blobs.get(changedLayer)?.bytes.length ?? 0;

  const store = new ImageStore({ dataDir });
  const access = registry.access({ server: `https://${relay.host}` });
  const pull = async (digest: string) => {
    relay.resetCounters();
    const started = process.hrtime.bigint();
    const prepared = await store.prepare({ reference: parseImageReference(`${relay.host}/bench/detector@${digest}`), access, platform: 'linux/amd64' });
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    return { prepared, seconds, moved: relay.bytesDown + relay.bytesUp, down: relay.bytesDown };
  };

  const one = await pull(first.digest);
  const two = await pull(second.digest);
  console.log(`machine: ${machineLine()}`);
  console.log(`image: ${round(one.prepared.bytes / MiB, 2)} MiB in ${LAYERS + 2} layers (${LAYERS} × ${LAYER_MB} MB incompressible, busybox, model)`);
  console.log(`first pull: ${round(one.seconds, 2)} s, ${one.moved} bytes on the socket (${round(one.prepared.bytes / MiB / one.seconds, 1)} MiB/s)`);
  console.log(`second revision: ${round(two.seconds, 2)} s, ${two.moved} bytes on the socket (${two.down} down); the changed layer is ${changedBytes} bytes`);
  console.log(JSON.stringify({ imageMb: round(one.prepared.bytes / MiB, 2), seconds: round(one.seconds, 2), bytesPerRolloutOfSecondRevision: two.moved }));
} finally {
  await relay.stop();
  await registry.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
