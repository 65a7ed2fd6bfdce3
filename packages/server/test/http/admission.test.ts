import { describe, expect, it } from 'vitest';
import { AdmissionGate, admissionClassOf } from '../../src/http/admission.js';

describe('which requests are bounded', () => {
  it.each([
    ['POST', '/v1/enroll', 'enrollment'],
    ['POST', '/v1/agent/renew', 'enrollment'],
    ['POST', '/v1/agent/status', 'agent'],
    ['POST', '/v1/agent/telemetry?x=1', 'agent'],
    ['POST', '/v1/agent/logs', 'agent'],
    // Long polls and downloads hold a request open cheaply; operators must always get in.
    ['GET', '/v1/agent/desired?wait=30', undefined],
    ['GET', '/v1/artifacts/sha256:ab', undefined],
    ['GET', '/v1/nodes', undefined],
    ['POST', '/v1/apply', undefined],
    ['GET', '/v1/ca', undefined],
  ])('%s %s → %s', (method, url, cls) => {
    expect(admissionClassOf(method, url)).toBe(cls);
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

  it('refuses nonsense bounds with a clear message', () => {
    expect(() => new AdmissionGate(0, 1, 10)).toThrow(/concurrency must be a whole number ≥ 1/);
    expect(() => new AdmissionGate(1, -1, 10)).toThrow(/queue must be a whole number ≥ 0/);
  });
});
