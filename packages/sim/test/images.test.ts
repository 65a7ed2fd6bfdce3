import { ImageError, type InstanceEvent, plan } from '@edgefleet/agent';
import { EdgefleetError, mulberry32, parseImageReference, ReleaseSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { ImageCatalog, type ImageTable, MB, parseImageTable, SimulatedImageStore } from '../src/images.js';
import { SimulatedLink } from '../src/link.js';
import { SIMULATED_ENGINE, SimulatedRuntime } from '../src/runtime.js';
import { ManualClock, sequence } from './manual-clock.js';

const REPO = 'registry.example:5000/team/detector';
const IMG1 = `${REPO}@sha256:${'1'.repeat(64)}`;
const IMG2 = `${REPO}@sha256:${'2'.repeat(64)}`;
const AMD64_ONLY = `${REPO}@sha256:${'3'.repeat(64)}`;
const CRASHING = `${REPO}@sha256:${'4'.repeat(64)}`;
const UNSIGNED = `${REPO}@sha256:${'5'.repeat(64)}`;
const CPU_IMAGE = `registry.example:5000/team/detector-cpu@sha256:${'6'.repeat(64)}`;
const PUBLIC_KEY = '-----BEGIN PUBLIC KEY-----\nMFkw…\n-----END PUBLIC KEY-----\n';

const TABLE: ImageTable = {
  images: {
    [AMD64_ONLY]: { platforms: ['linux/amd64'] },
    [`sha256:${'4'.repeat(64)}`]: { crashProbability: 1, startSeconds: 3 },
    [UNSIGNED]: { signed: false },
  },
};

/** A node's store over a simulated link at 10 MB/s on a clock the test moves. */
function node(table: ImageTable = TABLE) {
  const time = new ManualClock();
  let down: string | undefined;
  const link = new SimulatedLink({
    random: sequence(0.5),
    sleep: time.sleep,
    down: () => down,
    profile: () => ({ latencyMs: 0, jitterMs: 0, loss: 0, bandwidthBytesPerSecond: 10 * MB }),
  });
  const catalog = new ImageCatalog(table);
  const store = new SimulatedImageStore({ catalog, link });
  const pull = (image: string, opts: { cosign?: boolean } = {}) =>
    store.prepare({
      reference: parseImageReference(image),
      access: undefined,
      platform: 'linux/arm64',
      ...(opts.cosign === true ? { cosignPublicKey: PUBLIC_KEY } : {}),
    });
  /** Pulls, moving the clock until the pull settles; resolves with its result or error and the bytes it moved. */
  const pullToEnd = async (image: string, opts: { cosign?: boolean } = {}) => {
    const before = link.transferred;
    let settled: { ok: boolean; value: unknown } | undefined;
    pull(image, opts).then(
      (value) => {
        settled = { ok: true, value };
      },
      (value: unknown) => {
        settled = { ok: false, value };
      },
    );
    while (settled === undefined) await time.advance(100);
    return { ...settled, moved: link.transferred - before, at: time.now };
  };
  return {
    time,
    link,
    catalog,
    store,
    pull,
    pullToEnd,
    setDown: (reason: string | undefined) => {
      down = reason;
    },
  };
}

describe('simulated image pulls', () => {
  it.each([
    { name: 'first pull: the whole 50 MB image', pulls: [IMG1], lastMovedMb: [50, 50.1] },
    { name: 'second revision: only its changed 5 MB layer', pulls: [IMG1, IMG2], lastMovedMb: [5, 5.1] },
    { name: 'the same image again: nothing but its manifests', pulls: [IMG1, IMG1], lastMovedMb: [0, 0.01] },
    { name: 'another repository: no shared base', pulls: [IMG1, CPU_IMAGE], lastMovedMb: [50, 50.1] },
  ])('$name', async ({ pulls, lastMovedMb }) => {
    const n = node();
    let last = { ok: false, moved: 0, at: 0 };
    for (const image of pulls) last = await n.pullToEnd(image);
    expect(last.ok).toBe(true);
    expect(last.moved / MB).toBeGreaterThanOrEqual(lastMovedMb[0] as number);
    expect(last.moved / MB).toBeLessThanOrEqual(lastMovedMb[1] as number);
  });

  it('takes the time of the bytes at the link speed', async () => {
    const n = node();
    const r = await n.pullToEnd(IMG1);
    // 50 MB at 10 MB/s: 5 s of simulated time (the clock moves in 100 ms steps).
    expect(r.at).toBeGreaterThanOrEqual(5_000);
    expect(r.at).toBeLessThanOrEqual(5_200);
    expect(r.value).toMatchObject({ platform: 'linux/arm64', pinnedDigest: `sha256:${'1'.repeat(64)}`, bytes: 50 * MB + 4096 });
    expect(n.store.prepared(parseImageReference(IMG1), 'linux/arm64')).toEqual(r.value);
  });

  it('resumes a pull cut by the link from the parts that arrived', async () => {
    const n = node();
    const first = n.pull(IMG1);
    let error: unknown;
    first.catch((e: unknown) => {
      error = e;
    });
    await n.time.advance(2_050); // about 20 MB of 50 arrived
    n.setDown('site-01 is cut off');
    await n.time.advance(500);
    expect(error).toBeInstanceOf(ImageError);
    expect((error as ImageError).reason).toBe('image-pull-failed');
    expect((error as ImageError).message).toMatch(/the next pull resumes there.*site-01 is cut off/);
    const held = n.store.heldBytes;
    expect(held / MB).toBeGreaterThanOrEqual(19);
    expect(held / MB).toBeLessThanOrEqual(21);
    expect(n.store.prepared(parseImageReference(IMG1), 'linux/arm64')).toBeUndefined();

    n.setDown(undefined);
    const second = await n.pullToEnd(IMG1);
    expect(second.ok).toBe(true);
    // Only what was missing: 50 MB less what the first pull kept, plus the manifests.
    expect(Math.abs(second.moved - (50 * MB - held))).toBeLessThanOrEqual(8_192);
    // Over both pulls: the image once, and at most the part in flight at the cut lost.
    expect(n.link.transferred).toBeLessThanOrEqual(50 * MB + 2 * 8_192);
  });

  it('resumes after a power cut mid-pull (the store outlives the agent)', async () => {
    const n = node();
    const first = n.pull(IMG1).catch((e: unknown) => e);
    await n.time.advance(1_050);
    n.link.powerCut();
    expect(await first).toMatchObject({ reason: 'image-pull-failed', message: expect.stringContaining('lost power') });
    const held = n.store.heldBytes;
    expect(held).toBeGreaterThan(0);
    const second = await n.pullToEnd(IMG1);
    expect(second.ok).toBe(true);
    expect(Math.abs(second.moved - (50 * MB - held))).toBeLessThanOrEqual(8_192);
  });

  it.each([
    {
      name: 'an index without the node platform',
      image: AMD64_ONLY,
      cosign: false,
      reason: 'platform-unavailable',
      message: /has no manifest for linux\/arm64 \(it has linux\/amd64\)/,
    },
    { name: 'an unsigned image under verify.cosign', image: UNSIGNED, cosign: true, reason: 'image-signature-invalid', message: /no cosign signature/ },
  ])('refuses $name before moving its layers', async ({ image, cosign, reason, message }) => {
    const n = node();
    const r = await n.pullToEnd(image, { cosign });
    expect(r.ok).toBe(false);
    expect(r.value).toBeInstanceOf(ImageError);
    expect((r.value as ImageError).reason).toBe(reason);
    expect((r.value as ImageError).message).toMatch(message);
    expect(r.moved).toBeLessThanOrEqual(4_096);
  });

  it('an unsigned image is pulled when the release does not ask for cosign', async () => {
    expect((await node().pullToEnd(UNSIGNED)).ok).toBe(true);
  });

  it('collects layers no kept image needs, down to the budget', async () => {
    const n = node();
    await n.pullToEnd(IMG1);
    await n.pullToEnd(CPU_IMAGE);
    const { freedBytes } = await n.store.collect([parseImageReference(CPU_IMAGE)], 50 * MB);
    expect(freedBytes).toBe(50 * MB);
    expect(n.store.prepared(parseImageReference(IMG1), 'linux/arm64')).toBeUndefined();
    expect(n.store.prepared(parseImageReference(CPU_IMAGE), 'linux/arm64')).toBeDefined();
  });
});

describe('image table', () => {
  it.each([
    { table: { images: { x: { baseMb: -1 } } }, message: /images\["x"\]\.baseMb: must be a number from 0/ },
    { table: { images: { x: { platforms: ['arm64'] } } }, message: /platforms: platform "arm64" is not "os\/architecture/ },
    { table: { images: { x: { layers: [{ mb: 3 }] } } }, message: /layers\[0\]: must be \{id: NAME, mb: SIZE\}/ },
    { table: { default: { sizeMb: 3 } }, message: /default\.sizeMb: unknown field/ },
    { table: { imgs: {} }, message: /imgs: unknown field \(known: default, images\)/ },
    { table: { images: { x: { crashProbability: 2 } } }, message: /crashProbability: must be a number from 0 to 1/ },
  ])('refuses $message', ({ table, message }) => {
    let error: unknown;
    try {
      parseImageTable(table);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(EdgefleetError);
    expect((error as Error).message).toMatch(message);
  });

  it('sizes images from explicit layers, shared by id', async () => {
    const table = parseImageTable({
      images: {
        [IMG1]: {
          layers: [
            { id: 'debian', mb: 30 },
            { id: 'app-1', mb: 2 },
          ],
        },
        [IMG2]: {
          layers: [
            { id: 'debian', mb: 30 },
            { id: 'app-2', mb: 3 },
          ],
        },
      },
    });
    const n = node(table);
    expect((await n.pullToEnd(IMG1)).moved / MB).toBeCloseTo(32, 1);
    expect((await n.pullToEnd(IMG2)).moved / MB).toBeCloseTo(3, 1);
  });
});

describe('simulated container engine', () => {
  function setup() {
    const n = node();
    const runtime = new SimulatedRuntime({
      schedule: n.time.schedule,
      random: mulberry32(7),
      clock: n.time.clock,
      hasAccelerator: () => true,
      images: n.catalog,
    });
    return { n, runtime };
  }

  it('reports podman in the facts, and no engine without the simulation images', () => {
    expect(setup().runtime.containers?.facts).toEqual({ name: 'podman', version: SIMULATED_ENGINE.version, ociRuntime: 'crun' });
    expect(new SimulatedRuntime({ schedule: () => () => {}, random: Math.random, clock: Date.now, hasAccelerator: () => false }).containers).toBeUndefined();
  });

  it("platform missing from the index: the agent's planner serves the release's fallback image", async () => {
    const { n } = setup();
    const release = ReleaseSchema.parse({
      version: '1',
      runtime: { kind: 'container', image: AMD64_ONLY },
      fallback: { kind: 'container', image: CPU_IMAGE },
    });
    const failed = await n.pullToEnd(AMD64_ONLY);
    const error = failed.value as ImageError;
    const input = {
      now: n.time.now,
      desired: [{ deployment: 'detect', revision: 1, release, verificationProblem: undefined }],
      known: new Map([['detect', new Map([[1, release]])]]),
      local: new Map(),
      artifacts: new Set<string>(),
      downloadFailures: new Map(),
      hasAccelerator: true,
      primaryRetryDelayMs: () => 60_000,
      crashLoopThreshold: 3,
      containerEngine: true,
      images: new Set<string>(),
      imageFailures: new Map([[AMD64_ONLY, { reason: error.reason, message: error.message, retryAt: n.time.now + 3_600_000 }]]),
    };
    const first = plan(input);
    expect(first.steps).toEqual([{ action: 'pull', image: CPU_IMAGE, deployment: 'detect', revision: 1, model: 'fallback' }]);
    expect(first.statuses[0]).toMatchObject({ reason: 'platform-unavailable' });
    // The fallback image pulls on this node, and then the plan starts it.
    expect((await n.pullToEnd(CPU_IMAGE)).ok).toBe(true);
    const second = plan({ ...input, images: new Set([CPU_IMAGE]) });
    expect(second.steps).toContainEqual(expect.objectContaining({ action: 'start', revision: 1, model: 'fallback' }));
  });

  it.each([
    { name: 'a crashing image crashes inside its health window with the container reason', image: CRASHING, crash: true, startMs: 3_000 },
    { name: 'a good image stays up', image: IMG1, crash: false, startMs: 1_000 },
  ])('$name', async ({ image, crash, startMs }) => {
    const { n, runtime } = setup();
    const release = ReleaseSchema.parse({ version: '1', runtime: { kind: 'container', image }, health: { window: '10s' } });
    const prepared = await n.pullToEnd(image);
    const imageId = await runtime.containers?.load(prepared.value as never);
    const events: InstanceEvent[] = [];
    const output: string[] = [];
    const instance = runtime.spawn(
      {
        deployment: 'detect',
        revision: 1,
        model: 'primary',
        command: '',
        args: [],
        env: {},
        cwd: undefined,
        port: 0,
        healthPath: '/v2/health/ready',
        healthIntervalMs: 1_000,
        failureThreshold: 3,
        container: { imageId, name: 'edgefleet-detect-1-primary-x' } as never,
      },
      release,
      { clock: n.time.clock, onEvent: (e) => events.push(e), onOutput: (_s, c) => output.push(c.toString()) },
    );
    instance.start();
    await n.time.advance(startMs * 0.79);
    expect(instance.health).toBe('starting');
    await n.time.advance(startMs * 0.42);
    expect(events[0]).toEqual({ kind: 'ready' });
    await n.time.advance(10_000);
    if (crash) {
      expect(events[1]).toEqual({ kind: 'failed', reason: 'crashed', message: 'container exited with code 139 (SIGSEGV, simulated crash)' });
      expect(output.join('')).toContain('container exited with code 139');
    } else {
      expect(events).toHaveLength(1);
      expect(instance.health).toBe('ready');
    }
  });
});
