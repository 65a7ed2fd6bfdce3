import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { AdmissionGate, admissionClassOf, admissionControl, admissionUrgent, ByteBudget } from '../../src/http/admission.js';

describe('which routes are bounded', () => {
  it.each([
    ['enroll', 'enrollment'],
    // Renewals have their own class: enrollments, real or not, never keep a node from renewing.
    ['renew', 'renewal'],
    ['reportStatus', 'agent'],
    ['uploadTelemetry', 'agent'],
    ['uploadLogs', 'agent'],
    // Long polls and downloads hold a request open cheaply; operators must always get in.
    ['desired', undefined],
    ['downloadArtifact', undefined],
    ['listNodes', undefined],
    ['apply', undefined],
    ['ca', undefined],
  ] as const)('%s → %s', (route, cls) => {
    expect(admissionClassOf(route)).toBe(cls);
  });

  it('puts the heartbeat ahead of its class, and nothing else', () => {
    expect(admissionUrgent('reportStatus')).toBe(true);
    for (const route of ['uploadTelemetry', 'uploadLogs', 'enroll', 'renew'] as const) expect(admissionUrgent(route)).toBe(false);
  });
});

describe('an admission gate', () => {
  it('admits up to its bound, queues up to its queue, and refuses the rest', () => {
    const gate = new AdmissionGate(2, 1, 10, () => 0);
    expect(gate.enter()).toMatchObject({ admitted: true });
    expect(gate.enter()).toMatchObject({ admitted: true });
    const queued = gate.enter();
    expect(queued.admitted && queued.wait).toBeInstanceOf(Promise);
    expect(gate.enter()).toMatchObject({ admitted: false, retryAfterSeconds: 1 });
    expect(gate.load).toEqual({ inFlight: 2, queued: 1 });
  });

  it('hands a freed slot to the longest-waiting request, skipping those whose client left', async () => {
    const gate = new AdmissionGate(1, 3, 10, () => 0);
    gate.enter();
    const order: string[] = [];
    const a = gate.enter();
    const b = gate.enter();
    const c = gate.enter();
    for (const [name, x] of [
      ['a', a],
      ['b', b],
      ['c', c],
    ] as const)
      if (x.admitted) void x.wait?.then(() => order.push(name));
    expect(a.cancel()).toBe(false); // a's client went away while waiting
    gate.leave(5);
    gate.leave(5);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['a', 'b', 'c']); // a ends (it finds its client gone), then b and c get the slots
    expect(gate.load).toEqual({ inFlight: 1, queued: 0 });
    gate.leave(5);
    expect(gate.load).toEqual({ inFlight: 0, queued: 0 });
  });

  it('tells each refused request to come back later than the one before, up to 30 s', () => {
    // One request at a time taking a second each: the refused are spread a second apart.
    const gate = new AdmissionGate(1, 0, 1000, () => 0);
    gate.enter();
    const waits = Array.from({ length: 40 }, () => {
      const a = gate.enter();
      return a.admitted ? 0 : a.retryAfterSeconds;
    });
    expect(waits.slice(0, 4)).toEqual([2, 3, 4, 5]);
    expect(waits.at(-1)).toBe(30);
    expect(Math.max(...waits)).toBe(30);
  });

  it('serves urgent requests (heartbeats) ahead of the others, and gives one the place of the newest other when the queue is full', async () => {
    const gate = new AdmissionGate(1, 2, 10, () => 0);
    gate.enter();
    const order: string[] = [];
    const settled = (name: string, a: ReturnType<AdmissionGate['enter']>) => {
      if (a.admitted) void a.wait?.then((granted) => order.push(`${name}:${granted ? 'slot' : 'refused'}`));
    };
    settled('upload1', gate.enter());
    settled('upload2', gate.enter());
    expect(gate.full()).toBe(true);
    // Full for another upload, not for a heartbeat: it takes upload2's place.
    expect(gate.full(true)).toBe(false);
    const beat = gate.enter(true);
    expect(beat.admitted).toBe(true);
    settled('beat', beat);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['upload2:refused']);
    expect(gate.load).toEqual({ inFlight: 1, queued: 2 });
    gate.leave(5);
    gate.leave(5);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['upload2:refused', 'beat:slot', 'upload1:slot']);
    // A queue of heartbeats only: the next heartbeat is refused like anyone else.
    settled('beat2', gate.enter(true));
    settled('beat3', gate.enter(true));
    expect(gate.full(true)).toBe(true);
    expect(gate.enter(true)).toMatchObject({ admitted: false });
  });

  it('never gives an urgent request the place of a request whose client already left', () => {
    const gate = new AdmissionGate(1, 1, 10, () => 0);
    gate.enter();
    const gone = gate.enter();
    expect(gone.cancel()).toBe(false);
    expect(gate.full(true)).toBe(false); // the place is free: nothing to displace
    expect(gate.enter(true)).toMatchObject({ admitted: true });
    expect(gate.load).toEqual({ inFlight: 1, queued: 1 });
  });

  it('refuses nonsense bounds with a clear message', () => {
    expect(() => new AdmissionGate(0, 1, 10)).toThrow(/concurrency must be a whole number ≥ 1/);
    expect(() => new AdmissionGate(1, -1, 10)).toThrow(/queue must be a whole number ≥ 0/);
  });
});

describe('admission hooks', () => {
  /** A server whose /enroll and /renew handlers wait until the test lets them answer. */
  function blockingServer() {
    const control = admissionControl({ enrollConcurrency: 1, enrollQueue: 0, renewConcurrency: 1, renewQueue: 0 });
    const app = Fastify();
    const waiting: Array<() => void> = [];
    const handler = async () => {
      await new Promise<void>((resolve) => waiting.push(resolve));
      return { ok: true };
    };
    app.post('/enroll', { preHandler: control.hook('enrollment') }, handler);
    app.post('/renew', { preHandler: control.hook('renewal') }, handler);
    const release = () => {
      for (const answer of waiting.splice(0)) answer();
    };
    const handled = async (n: number) => {
      while (waiting.length < n) await new Promise((r) => setImmediate(r));
    };
    return { app, control, release, handled };
  }

  it('answers 429 overloaded with Retry-After beyond the bound, and frees the slot once the answer is sent', async () => {
    const { app, release, handled } = blockingServer();
    const first = app.inject({ method: 'POST', url: '/enroll', payload: {} });
    await handled(1);
    const refused = await app.inject({ method: 'POST', url: '/enroll', payload: {} });
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toMatchObject({ error: { code: 'overloaded', hint: expect.stringMatching(/retry by themselves/) } });
    release();
    expect((await first).statusCode).toBe(200);
    const again = app.inject({ method: 'POST', url: '/enroll', payload: {} });
    await handled(1);
    release();
    expect((await again).statusCode).toBe(200);
  });

  it('keeps renewals apart: a full enrollment class never refuses a renewal', async () => {
    const { app, control, release, handled } = blockingServer();
    const enrolling = app.inject({ method: 'POST', url: '/enroll', payload: {} });
    await handled(1);
    expect(control.gates.enrollment.load).toEqual({ inFlight: 1, queued: 0 });
    expect((await app.inject({ method: 'POST', url: '/enroll', payload: {} })).statusCode).toBe(429);
    const renewing = app.inject({ method: 'POST', url: '/renew', payload: {} });
    await handled(2);
    release();
    expect((await renewing).statusCode).toBe(200);
    expect((await enrolling).statusCode).toBe(200);
  });
});

describe('a budget of body bytes', () => {
  it('reserves up to its limit, refuses beyond, and takes bytes back', () => {
    const budget = new ByteBudget(1000);
    expect(budget.take(600)).toBe(true);
    expect(budget.take(500)).toBe(false);
    expect(budget.reserved).toBe(600);
    budget.give(600);
    expect(budget.take(500)).toBe(true);
    expect(budget.reserved).toBe(500);
  });

  it('lets one body larger than the whole budget in when nothing else is reserved', () => {
    const budget = new ByteBudget(1000);
    expect(budget.take(5000)).toBe(true);
    expect(budget.take(1)).toBe(false);
  });

  it('refuses nonsense budgets with a clear message', () => {
    expect(() => new ByteBudget(0)).toThrow(/whole number of bytes ≥ 1, not 0/);
  });
});

describe('the door of the agent class (before the body is read)', () => {
  /** A server with one agent upload route whose handler waits until the test lets it answer; it counts bodies read. */
  function uploadServer(limits: Parameters<typeof admissionControl>[0]) {
    const control = admissionControl(limits);
    const app = Fastify();
    let bodiesRead = 0;
    app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, raw, done) => {
      bodiesRead++;
      done(null, raw);
    });
    const waiting: Array<() => void> = [];
    app.post('/upload', { onRequest: control.door('agent', 1024 * 1024), preHandler: control.hook('agent') }, async () => {
      await new Promise<void>((resolve) => waiting.push(resolve));
      return { ok: true };
    });
    const release = () => {
      for (const answer of waiting.splice(0)) answer();
    };
    const handled = async (n: number) => {
      while (waiting.length < n) await new Promise((r) => setImmediate(r));
    };
    const upload = (bytes: number) =>
      app.inject({ method: 'POST', url: '/upload', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(bytes) });
    return { app, control, release, handled, upload, bodiesRead: () => bodiesRead };
  }

  it('refuses with 429 and Retry-After, without reading the body, when the bytes held would pass the budget', async () => {
    const { control, release, handled, upload, bodiesRead } = uploadServer({ agentBodyBytes: 1000 });
    const first = upload(800);
    await handled(1);
    expect(control.agentBodies.reserved).toBe(800);
    const refused = await upload(400);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.json()).toMatchObject({ error: { code: 'overloaded', message: expect.stringMatching(/agent uploads, its limit/) } });
    expect(bodiesRead()).toBe(1);
    release();
    expect((await first).statusCode).toBe(200);
    expect(control.agentBodies.reserved).toBe(0);
    // Room again: the same upload is now read and answered.
    const again = upload(400);
    await handled(1);
    release();
    expect((await again).statusCode).toBe(200);
    expect(bodiesRead()).toBe(2);
    expect(control.agentBodies.reserved).toBe(0);
  });

  it('never counts a status report (a route without an upload limit) against the budget', async () => {
    const control = admissionControl({ agentBodyBytes: 10 });
    const app = Fastify();
    app.post('/status', { onRequest: control.door('agent'), preHandler: control.hook('agent') }, async () => {
      expect(control.agentBodies.reserved).toBe(0);
      return { ok: true };
    });
    const answer = await app.inject({ method: 'POST', url: '/status', payload: { facts: 'x'.repeat(100) } });
    expect(answer.statusCode).toBe(200);
  });

  it('lets a heartbeat through a class full of uploads: the upload that queued last is refused with 429 instead', async () => {
    const control = admissionControl({ agentConcurrency: 1, agentQueue: 1 });
    const app = Fastify();
    const waiting: Array<() => void> = [];
    const handler = async () => {
      await new Promise<void>((resolve) => waiting.push(resolve));
      return { ok: true };
    };
    app.post('/upload', { onRequest: control.door('agent', 1024 * 1024), preHandler: control.hook('agent') }, handler);
    app.post('/status', { onRequest: control.door('agent', undefined, true), preHandler: control.hook('agent', true) }, handler);
    const handled = async (n: number) => {
      while (waiting.length < n) await new Promise((r) => setImmediate(r));
    };
    const upload = () => app.inject({ method: 'POST', url: '/upload', headers: { 'content-type': 'application/json' }, payload: {} });
    const first = upload();
    await handled(1);
    const queued = upload();
    while (control.gates.agent.load.queued < 1) await new Promise((r) => setImmediate(r));
    expect((await upload()).statusCode).toBe(429); // another upload: the class is full
    const heartbeat = app.inject({ method: 'POST', url: '/status', payload: {} });
    const displaced = await queued;
    expect(displaced.statusCode).toBe(429);
    expect(Number(displaced.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    (waiting.shift() as () => void)(); // the first upload answers: its slot goes to the heartbeat
    expect((await first).statusCode).toBe(200);
    await handled(1);
    (waiting.shift() as () => void)();
    expect((await heartbeat).statusCode).toBe(200);
    expect(control.gates.agent.load).toEqual({ inFlight: 0, queued: 0 });
  });

  it('tells of every refused agent request (the door, the queue, a displaced upload), and of nothing admitted or of another class', async () => {
    const told: string[] = [];
    const control = admissionControl({ agentConcurrency: 1, agentQueue: 1, enrollConcurrency: 1, enrollQueue: 0 }, undefined, (request) =>
      told.push(`${request.method} ${request.url}`),
    );
    const app = Fastify();
    const waiting: Array<() => void> = [];
    const handler = async () => {
      await new Promise<void>((resolve) => waiting.push(resolve));
      return { ok: true };
    };
    app.post('/upload', { onRequest: control.door('agent', 1024 * 1024), preHandler: control.hook('agent') }, handler);
    app.post('/status', { onRequest: control.door('agent', undefined, true), preHandler: control.hook('agent', true) }, handler);
    app.post('/enroll', { onRequest: control.door('enrollment'), preHandler: control.hook('enrollment') }, handler);
    const handled = async (n: number) => {
      while (waiting.length < n) await new Promise((r) => setImmediate(r));
    };
    const post = (url: string) => app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: {} });
    const first = post('/upload');
    await handled(1);
    const queued = post('/upload?n=2');
    while (control.gates.agent.load.queued < 1) await new Promise((r) => setImmediate(r));
    expect(told).toEqual([]); // admitted and queued: nothing to tell
    expect((await post('/upload?n=3')).statusCode).toBe(429); // at the door
    const heartbeat = post('/status');
    expect((await queued).statusCode).toBe(429); // displaced by the heartbeat
    expect((await post('/status?n=2')).statusCode).toBe(429); // the queue holds a heartbeat already
    const enrolling = post('/enroll');
    await handled(2);
    expect((await post('/enroll?n=2')).statusCode).toBe(429); // another class: not told
    expect(told).toEqual(['POST /upload?n=3', 'POST /upload?n=2', 'POST /status?n=2']);
    for (const answer of waiting.splice(0)) answer();
    await handled(1);
    for (const answer of waiting.splice(0)) answer();
    expect((await first).statusCode).toBe(200);
    expect((await heartbeat).statusCode).toBe(200);
    expect((await enrolling).statusCode).toBe(200);
  });

  it('refuses a request of a full class before its body is read, not after', async () => {
    const { control, release, handled, upload, bodiesRead } = uploadServer({ agentConcurrency: 1, agentQueue: 0 });
    const first = upload(10);
    await handled(1);
    expect(control.gates.agent.full()).toBe(true);
    const refused = await upload(10);
    expect(refused.statusCode).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(bodiesRead()).toBe(1);
    release();
    expect((await first).statusCode).toBe(200);
    expect(control.gates.agent.load).toEqual({ inFlight: 0, queued: 0 });
  });
});
