import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Release, ReleaseSchema } from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalArtifactStore } from '../../src/artifacts/index.js';
import { ImageError, type ImageRequest, type ImageSource, type PreparedImage } from '../../src/images/types.js';
import type { RuntimeInstance, WorkloadRuntime } from '../../src/workloads/runtime.js';
import { WorkloadSupervisor } from '../../src/workloads/supervisor.js';

const A = `sha256:${'a'.repeat(64)}`;
const R1: Release = ReleaseSchema.parse({
  version: '1',
  model: { artifact: A, format: 'onnx' },
  runtime: { kind: 'process', command: '/bin/true', accelerator: 'none' },
});

/** Instances and proxies in memory: what the supervisor did, without processes or ports. */
function memoryRuntime(): WorkloadRuntime & { proxiesOpen: number } {
  const rt = {
    proxiesOpen: 0,
    spawn(spec: RuntimeInstance['spec']): RuntimeInstance {
      return {
        spec,
        health: 'starting',
        readySince: undefined,
        promotedAt: undefined,
        everReady: false,
        pid: undefined,
        start() {},
        observe: () => ({
          revision: spec.revision,
          model: spec.model,
          health: 'starting',
          startedAt: 0,
          promotedAt: undefined,
          readySince: undefined,
          port: spec.port,
          pid: undefined,
          exit: undefined,
        }),
        stop: async () => {},
      };
    },
    async openProxy() {
      rt.proxiesOpen++;
      return {
        port: 7000,
        close: async () => {
          rt.proxiesOpen--;
        },
      };
    },
    freePort: async () => 9000,
  };
  return rt;
}

describe('the workload supervisor', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-supervisor-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function supervisor(
    runtime: WorkloadRuntime = memoryRuntime(),
    extra: Partial<ConstructorParameters<typeof WorkloadSupervisor>[0]> = {},
  ): WorkloadSupervisor {
    return new WorkloadSupervisor({
      ...extra,
      dataDir: dir,
      artifacts: new LocalArtifactStore(join(dir, 'artifacts')),
      source: () => ({ open: async () => Promise.reject(new Error('no server in this test')) }),
      clock: () => 1_000,
      log: pino({ level: 'silent' }),
      onChange: () => {},
      runtime,
    });
  }

  it('reads rejections of a workloads.json written before failures had a kind', () => {
    const old = { revision: 2, model: 'primary', reason: 'rolled-back', message: 'revision 2 failed inside its health window', at: 500, count: 1 };
    writeFileSync(join(dir, 'workloads.json'), JSON.stringify({ version: 1, known: {}, previous: { detect: 1 }, rejected: { detect: [old] }, pids: [] }));
    const failures = supervisor().observe().get('detect')?.failures;
    expect(failures).toEqual([{ kind: 'revision-rejected', revision: 2, model: 'primary', message: old.message, at: 500, count: 1 }]);
  });

  it('keeps a rejection across restarts, written so older agents read it too', async () => {
    await supervisor().execute([{ action: 'reject', deployment: 'detect', revision: 2, message: 'failed in its window' }]);
    const file = JSON.parse(readFileSync(join(dir, 'workloads.json'), 'utf8')) as { rejected: Record<string, unknown[]> };
    expect(file.rejected.detect).toEqual([{ revision: 2, model: 'primary', reason: 'rolled-back', message: 'failed in its window', at: 1_000, count: 1 }]);
    expect(supervisor().observe().get('detect')?.failures).toMatchObject([{ kind: 'revision-rejected', revision: 2 }]);
  });

  it("closes a deployment's front door only when its instances stop because it is no longer desired", async () => {
    const runtime = memoryRuntime();
    const s = supervisor(runtime);
    mkdirSync(join(dir, 'artifacts', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'artifacts', 'sha256', 'a'.repeat(64)), 'model');
    s.learn('detect', 1, R1);
    await s.execute([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    expect(runtime.proxiesOpen).toBe(1);
    // Stopped for another cause (here: not needed), the front door stays for the next instance.
    await s.execute([{ action: 'stop', deployment: 'detect', which: 'active', cause: 'not-needed', reason: 'no longer desired' }]);
    expect(runtime.proxiesOpen).toBe(1);
    await s.execute([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    await s.execute([{ action: 'stop', deployment: 'detect', which: 'active', cause: 'no-longer-desired', reason: 'deleted' }]);
    expect(runtime.proxiesOpen).toBe(0);
  });

  it('opens a site front door on the inference address, keeps who holds the port across restarts, and records a taken port', async () => {
    const opened: { port: number; host: string | undefined }[] = [];
    const taken = new Set<number>([9090]);
    const runtime = memoryRuntime();
    runtime.openProxy = async (_d, _t, _r, wantedPort, host) => {
      if (host !== undefined && taken.has(wantedPort))
        throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${host}:${wantedPort}`), { code: 'EADDRINUSE' });
      opened.push({ port: wantedPort, host });
      return { port: wantedPort, close: async () => {} };
    };
    const inference = { listen: '127.0.0.2', host: '127.0.0.2' };
    const s = supervisor(runtime, { inference });
    await s.execute([{ action: 'listen', deployment: 'detect', port: 8080 }]);
    expect(opened).toEqual([{ port: 8080, host: '127.0.0.2' }]);
    expect(s.observe().get('detect')).toMatchObject({ sitePort: 8080, siteHost: '127.0.0.2' });
    expect([...supervisor(runtime, { inference }).sitePortHolders()]).toEqual([[8080, 'detect']]);

    await s.execute([{ action: 'listen', deployment: 'other', port: 9090 }]);
    expect(s.endpointFailures.get('other')).toMatchObject({ reason: 'port-conflict', port: 9090, count: 1 });
    expect(s.endpointFailures.get('other')?.retryAt).toBeGreaterThanOrEqual(1_500);
    await s.execute([{ action: 'listen', deployment: 'other', port: 9090 }]);
    expect(s.endpointFailures.get('other')?.count).toBe(2);
    taken.clear();
    await s.execute([{ action: 'listen', deployment: 'other', port: 9090 }]);
    expect(s.endpointFailures.has('other')).toBe(false);
    expect([...s.sitePortHolders()].sort()).toEqual([
      [8080, 'detect'],
      [9090, 'other'],
    ]);
    // Back to loopback with nothing running: the door closes and the port is free.
    await s.execute([{ action: 'listen', deployment: 'other', port: null }]);
    expect([...s.sitePortHolders()]).toEqual([[8080, 'detect']]);
    expect(s.observe().has('other')).toBe(false);
  });

  it('hands a workload run as its own user the model as fd 3, a working folder of its own, and the device groups', async () => {
    const spawned: RuntimeInstance['spec'][] = [];
    const runtime = memoryRuntime();
    const spawn = runtime.spawn.bind(runtime);
    runtime.spawn = (spec, release, events) => {
      spawned.push(spec);
      return spawn(spec, release, events);
    };
    // The test's own ids: chown to oneself works without root.
    const user = { name: 'w', uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    const s = supervisor(runtime, { workloadUser: { user, workDirRoot: join(dir, 'work'), setpriv: '/usr/bin/setpriv', groups: () => [44] } });
    mkdirSync(join(dir, 'artifacts', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'artifacts', 'sha256', 'a'.repeat(64)), 'model');
    s.learn('detect', 1, { ...R1, runtime: { kind: 'model-server', accelerator: 'none' } });
    await s.execute([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    const spec = spawned[0];
    expect(spec?.env.EDGEFLEET_MODEL_PATH).toBe('/proc/self/fd/3');
    expect(spec?.cwd).toBe(join(dir, 'work', 'detect'));
    expect(statSync(join(dir, 'work', 'detect')).mode & 0o777).toBe(0o700);
    expect(spec?.runAs).toEqual({ user, groups: [44], setpriv: '/usr/bin/setpriv', modelFile: join(dir, 'artifacts', 'sha256', 'a'.repeat(64)) });
  });

  it('tells the stats when a new instance begins serving: once per instance, when it is active and ready', async () => {
    let now = 1_000;
    const instances: Array<RuntimeInstance & { becomeReady(): void }> = [];
    const runtime = memoryRuntime();
    runtime.spawn = (spec, _release, events) => {
      const inst = {
        spec,
        health: 'starting' as RuntimeInstance['health'],
        readySince: undefined as number | undefined,
        promotedAt: undefined as number | undefined,
        everReady: false,
        pid: undefined,
        start() {},
        observe: () => ({
          revision: spec.revision,
          model: spec.model,
          health: inst.health,
          startedAt: 0,
          promotedAt: undefined,
          readySince: undefined,
          port: 0,
          pid: undefined,
          exit: undefined,
        }),
        stop: async () => {},
        becomeReady() {
          inst.health = 'ready';
          inst.everReady = true;
          events.onEvent({ kind: 'ready' });
        },
      };
      instances.push(inst);
      return inst;
    };
    const started: Array<[string, number, number]> = [];
    const s = new WorkloadSupervisor({
      dataDir: dir,
      artifacts: new LocalArtifactStore(join(dir, 'artifacts')),
      source: () => ({ open: async () => Promise.reject(new Error('no server in this test')) }),
      clock: () => now,
      log: pino({ level: 'silent' }),
      onChange: () => {},
      runtime,
      stats: { request: () => {}, restart: () => {}, instanceStarted: (d, r, t) => started.push([d, r, t]) },
    });
    mkdirSync(join(dir, 'artifacts', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'artifacts', 'sha256', 'a'.repeat(64)), 'model');
    s.learn('detect', 1, R1);
    s.learn('detect', 2, { ...R1, version: '2' });
    // The first instance is active from the start, but serves only once ready.
    await s.execute([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    expect(started).toEqual([]);
    now = 3_000;
    instances[0]?.becomeReady();
    expect(started).toEqual([['detect', 1, 3_000]]);
    // A candidate ready beside it does not serve until promoted.
    await s.execute([{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }]);
    now = 5_000;
    instances[1]?.becomeReady();
    expect(started).toHaveLength(1);
    now = 6_000;
    await s.execute([{ action: 'promote', deployment: 'detect' }]);
    expect(started.at(-1)).toEqual(['detect', 2, 6_000]);
    // Readiness lost and regained is the same warm process; a restart is a new instance.
    instances[1]?.becomeReady();
    expect(started).toHaveLength(2);
    now = 9_000;
    await s.execute([{ action: 'restart', deployment: 'detect' }]);
    now = 10_000;
    instances[2]?.becomeReady();
    expect(started).toEqual([
      ['detect', 1, 3_000],
      ['detect', 2, 6_000],
      ['detect', 2, 10_000],
    ]);
  });

  it('remembers what served only once it was ready, across restarts: a first instance that never came up does not replace it', async () => {
    const instances: Array<RuntimeInstance & { becomeReady(): void }> = [];
    const runtime = memoryRuntime();
    const spawn = runtime.spawn.bind(runtime);
    runtime.spawn = (spec, release, events) => {
      const inst = {
        ...spawn(spec, release, events),
        becomeReady() {
          inst.health = 'ready';
          inst.everReady = true;
          events.onEvent({ kind: 'ready' });
        },
      };
      instances.push(inst);
      return inst;
    };
    mkdirSync(join(dir, 'artifacts', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'artifacts', 'sha256', 'a'.repeat(64)), 'model');
    const servingOnDisk = (): unknown => (JSON.parse(readFileSync(join(dir, 'workloads.json'), 'utf8')) as { serving?: unknown }).serving;
    const first = supervisor(runtime);
    first.learn('detect', 2, R1);
    first.learn('detect', 3, { ...R1, version: '3' });
    await first.execute([{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }]);
    // Started but not ready: it has not served yet.
    expect(servingOnDisk()).toEqual({});
    expect(first.observe().get('detect')?.lastServing).toBeUndefined();
    instances[0]?.becomeReady();
    expect(servingOnDisk()).toEqual({ detect: { revision: 2, model: 'primary' } });
    await first.stopAll();

    // The next agent starts revision 3 as its first instance; it never becomes ready.
    const second = supervisor(runtime);
    expect(second.observe().get('detect')?.lastServing).toEqual({ revision: 2, model: 'primary' });
    await second.execute([{ action: 'start', deployment: 'detect', revision: 3, model: 'primary' }]);
    expect(second.observe().get('detect')?.active?.revision).toBe(3);
    expect(second.observe().get('detect')?.lastServing).toEqual({ revision: 2, model: 'primary' });
    expect(supervisor(runtime).observe().get('detect')?.lastServing).toEqual({ revision: 2, model: 'primary' });
    // Once it is ready it is what served last.
    instances[1]?.becomeReady();
    expect(servingOnDisk()).toEqual({ detect: { revision: 3, model: 'primary' } });
  });

  it('tells the stats at once about an instance a runtime made ready before it was active', async () => {
    const runtime = memoryRuntime();
    const spawn = runtime.spawn.bind(runtime);
    runtime.spawn = (spec, release, events) => ({ ...spawn(spec, release, events), health: 'ready', everReady: true });
    const started: number[] = [];
    const s = new WorkloadSupervisor({
      dataDir: dir,
      artifacts: new LocalArtifactStore(join(dir, 'artifacts')),
      source: () => ({ open: async () => Promise.reject(new Error('no server in this test')) }),
      clock: () => 7_000,
      log: pino({ level: 'silent' }),
      onChange: () => {},
      runtime,
      stats: { request: () => {}, restart: () => {}, instanceStarted: (_d, r) => started.push(r) },
    });
    mkdirSync(join(dir, 'artifacts', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'artifacts', 'sha256', 'a'.repeat(64)), 'model');
    s.learn('detect', 1, R1);
    await s.execute([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    expect(started).toEqual([1]);
    await s.execute([{ action: 'restart', deployment: 'detect' }]);
    expect(started).toEqual([1, 1]);
  });
});

describe('the workload supervisor with container and model-less releases', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-supervisor-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const IMG = `registry.example:5000/team/detector@sha256:${'1'.repeat(64)}`;
  const CONFIG = `sha256:${'c'.repeat(64)}`;
  const SECRET = 'hunter2-registry-password';

  /** A runtime with an engine in memory: spawned specs and loaded images are recorded. */
  function engineRuntime(): WorkloadRuntime & { spawned: RuntimeInstance['spec'][]; loaded: string[] } {
    const spawned: RuntimeInstance['spec'][] = [];
    const loaded: string[] = [];
    return {
      spawned,
      loaded,
      spawn(spec) {
        spawned.push(spec);
        return {
          spec,
          health: 'starting',
          readySince: undefined,
          promotedAt: undefined,
          everReady: false,
          pid: undefined,
          start() {},
          observe: () => ({
            revision: spec.revision,
            model: spec.model,
            health: 'starting',
            startedAt: 0,
            promotedAt: undefined,
            readySince: undefined,
            port: spec.port,
            pid: undefined,
            exit: undefined,
          }),
          stop: async () => {},
        };
      },
      openProxy: async () => ({ port: 7000, close: async () => {} }),
      freePort: async () => 9000,
      containers: {
        facts: { name: 'podman', version: '4.3.1', ociRuntime: 'runc' },
        agentKey: 'k',
        network: 'bridge',
        load: async (image: PreparedImage) => {
          loaded.push(image.layoutDir);
          return image.configDigest.slice(7);
        },
        leftovers: async () => [],
        remove: async () => {},
        stats: async () => new Map(),
      },
    };
  }

  function source(fail?: ImageError): ImageSource & { requests: ImageRequest[] } {
    const requests: ImageRequest[] = [];
    return {
      requests,
      async prepare(request) {
        requests.push(request);
        if (fail !== undefined) throw fail;
        return {
          pinnedDigest: request.reference.digest,
          manifestDigest: request.reference.digest,
          configDigest: CONFIG,
          platform: request.platform,
          bytes: 1,
          layoutDir: '/layouts/1',
        };
      },
      prepared: () => undefined,
      collect: async () => ({ freedBytes: 0 }),
    };
  }

  function supervisor(runtime: WorkloadRuntime, images: ImageSource, lines: string[]): WorkloadSupervisor {
    return new WorkloadSupervisor({
      dataDir: dir,
      artifacts: new LocalArtifactStore(join(dir, 'artifacts')),
      source: () => ({ open: async () => Promise.reject(new Error('no server in this test')) }),
      clock: () => 1_000,
      log: pino({ level: 'debug' }, { write: (line: string) => lines.push(line) }),
      onChange: () => {},
      runtime,
      images,
      platform: 'linux/arm64',
      registries: () => [
        { name: 'other', server: 'https://registry.example', caPem: null, username: 'x', password: 'y' },
        { name: 'team', server: 'https://registry.example:5000', caPem: null, username: 'robot', password: SECRET },
      ],
      accelerator: () => ({ devices: [{ host: '/hw/dev/hailo0', container: '/dev/hailo0' }], groups: [44] }),
    });
  }

  const settle = () => new Promise((r) => setImmediate(r));

  it('starts a process release that has no model, without a model path', async () => {
    const runtime = engineRuntime();
    const sup = supervisor(runtime, source(), []);
    const release = ReleaseSchema.parse({ version: '1', runtime: { kind: 'process', command: '/usr/bin/serve' } });
    sup.learn('plain', 1, release);
    await sup.execute([{ action: 'start', deployment: 'plain', revision: 1, model: 'primary' }]);
    expect(runtime.spawned).toHaveLength(1);
    expect(runtime.spawned[0]?.command).toBe('/usr/bin/serve');
    expect(runtime.spawned[0]?.env.EDGEFLEET_MODEL_PATH).toBeUndefined();
    expect(runtime.spawned[0]?.env.EDGEFLEET_PORT).toBe('9000');
  });

  it('pulls through the image store with the matching registry, imports into the engine, and runs the container isolated', async () => {
    const runtime = engineRuntime();
    const images = source();
    const lines: string[] = [];
    const sup = supervisor(runtime, images, lines);
    const release = ReleaseSchema.parse({
      version: '1',
      runtime: {
        kind: 'container',
        image: IMG,
        accelerator: 'required',
        env: { ADD: '1' },
        capabilities: ['SYS_NICE'],
        ports: [{ name: 'inference', containerPort: 8500 }],
      },
    });
    sup.learn('detect', 1, release);
    await sup.execute([{ action: 'pull', image: IMG, deployment: 'detect', revision: 1, model: 'primary' }]);
    await settle();
    expect(images.requests[0]).toMatchObject({ platform: 'linux/arm64', access: { name: 'team' } });
    expect(runtime.loaded).toEqual(['/layouts/1']);
    expect([...sup.images()]).toEqual([IMG]);

    await sup.execute([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    const c = runtime.spawned[0]?.container;
    expect(c).toMatchObject({
      imageId: 'c'.repeat(64),
      containerPort: 8500,
      hostPort: 9000,
      user: '65534:65534',
      capabilities: ['SYS_NICE'],
      devices: [{ host: '/hw/dev/hailo0', container: '/dev/hailo0' }],
      groups: [44],
    });
    expect(c?.env).toMatchObject({ ADD: '1', EDGEFLEET_PORT: '8500', EDGEFLEET_DEPLOYMENT: 'detect' });
    expect(sup.containers()).toEqual([{ deployment: 'detect', revision: 1, model: 'primary', name: c?.name, devices: ['/dev/hailo0'] }]);
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('collects images no kept revision needs: out of the engine, then layers beyond the budget', async () => {
    const runtime = engineRuntime();
    const unloaded: string[] = [];
    (runtime.containers as NonNullable<WorkloadRuntime['containers']>).unload = async (id) => {
      unloaded.push(id);
    };
    const images = source();
    const collected: { keep: string[]; budget: number }[] = [];
    images.collect = async (keep, budget) => {
      collected.push({ keep: keep.map((k) => k.digest), budget });
      return { freedBytes: 0 };
    };
    const sup = supervisor(runtime, images, []);
    sup.learn('detect', 1, ReleaseSchema.parse({ version: '1', runtime: { kind: 'container', image: IMG } }));
    await sup.execute([{ action: 'pull', image: IMG, deployment: 'detect', revision: 1, model: 'primary' }]);
    await settle();
    expect([...sup.images()]).toEqual([IMG]);
    const KEPT = `registry.example:5000/team/detector@sha256:${'2'.repeat(64)}`;
    await sup.execute([{ action: 'gc', keep: [], keepImages: [KEPT] }]);
    expect(unloaded).toEqual(['c'.repeat(64)]);
    expect([...sup.images()]).toEqual([]);
    expect(collected).toEqual([{ keep: [`sha256:${'2'.repeat(64)}`], budget: 2 * 1024 ** 3 }]);
  });

  it('gives the accelerator to no container that does not ask for it', async () => {
    const runtime = engineRuntime();
    const sup = supervisor(runtime, source(), []);
    sup.learn('plain', 1, ReleaseSchema.parse({ version: '1', runtime: { kind: 'container', image: IMG } }));
    await sup.execute([{ action: 'pull', image: IMG, deployment: 'plain', revision: 1, model: 'primary' }]);
    await settle();
    await sup.execute([{ action: 'start', deployment: 'plain', revision: 1, model: 'primary' }]);
    expect(runtime.spawned[0]?.container).toMatchObject({ devices: [], groups: [], containerPort: 8080 });
  });

  it.each([
    ['platform-unavailable', 3_600_000],
    ['image-signature-invalid', 30_000],
    ['image-pull-failed', 2_000],
  ] as const)('records an image failure (%s) with its reason and backoff, and logs no credentials', async (reason, delay) => {
    const runtime = engineRuntime();
    const lines: string[] = [];
    const sup = supervisor(runtime, source(new ImageError(reason, `${reason} for the test`)), lines);
    sup.learn('detect', 1, ReleaseSchema.parse({ version: '1', runtime: { kind: 'container', image: IMG } }));
    await sup.execute([{ action: 'pull', image: IMG, deployment: 'detect', revision: 1, model: 'primary' }]);
    await settle();
    expect(sup.imageFailures.get(IMG)).toMatchObject({ reason, retryAt: 1_000 + delay, count: 1 });
    expect(runtime.loaded).toEqual([]);
    expect(lines.join('\n')).toContain(reason);
    expect(lines.join('\n')).not.toContain(SECRET);
  });
});
