import { EventEmitter } from 'node:events';
import type { Server } from 'node:https';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { CONNECTION_DEFAULTS, ConnectionGuard, connectionBudget, connectionSettings, serverTimeoutOptions, shedHeadroom } from '../../src/http/connections.js';

/** /proc/self/limits as Linux prints it, with this open-files line. */
const limits = (openFiles: string): string =>
  `Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \n${openFiles}\nMax locked memory         8388608              8388608              bytes     \n`;

describe('connectionBudget: all connections together, from the open-file limit', () => {
  it.each([
    ['the common 1024: less 256 kept for files', limits('Max open files            1024                 524288               files     '), 768],
    ['a raised limit: less a tenth', limits('Max open files            65536                65536                files     '), 58_982],
    ['20,000', limits('Max open files            20000                20000                files     '), 18_000],
    ['a tiny limit still leaves 64', limits('Max open files            100                  100                  files     '), 64],
    ['unlimited', limits('Max open files            unlimited            unlimited            files     '), 10_000],
    ['no such line', limits('Max processes             63455                63455                processes '), 10_000],
    ['not Linux (no file)', undefined, 10_000],
  ])('%s', (_what, text, expected) => {
    expect(connectionBudget(text)).toBe(expected);
  });
});

describe('shedHeadroom: how far below the cap idle connections start to make room', () => {
  it.each([
    [18_000, 360],
    [768, 16],
    [64, 2],
    [4, 1],
    [1, 1],
  ])('a cap of %i: the last %i', (cap, expected) => {
    expect(shedHeadroom(cap)).toBe(expected);
  });
});

describe('connection limits', () => {
  it('fills in the defaults and takes what is given', () => {
    expect(connectionSettings()).toEqual(CONNECTION_DEFAULTS);
    expect(connectionSettings({ bodyTimeoutMs: 1_000, unauthenticatedPerAddress: 3 })).toEqual({
      ...CONNECTION_DEFAULTS,
      bodyTimeoutMs: 1_000,
      unauthenticatedPerAddress: 3,
    });
  });

  it('refuses nonsense with a clear message', () => {
    expect(() => connectionSettings({ idleTimeoutMs: 0 })).toThrow(/idleTimeoutMs must be a whole number ≥ 1, not 0/);
    expect(() => connectionSettings({ headersTimeoutMs: 1.5 })).toThrow(/headersTimeoutMs must be a whole number/);
    expect(() => connectionSettings({ nope: 1 } as never)).toThrow(/unknown connection limit "nope"/);
  });

  it("gives Node the header clock, never Node's request clock (it would cut operators' long uploads)", () => {
    expect(serverTimeoutOptions(connectionSettings({ headersTimeoutMs: 1_000 }))).toEqual({
      headersTimeout: 1_000,
      requestTimeout: 0,
      connectionsCheckingInterval: 250,
    });
    expect(serverTimeoutOptions(CONNECTION_DEFAULTS).connectionsCheckingInterval).toBe(3_750);
  });
});

/** A TLS socket as the guard sees it: an address, whether its certificate was verified, and what was done to it. */
class FakeSocket extends EventEmitter {
  ended = '';
  timeoutMs: number | undefined;
  destroyed = false;
  constructor(
    readonly remoteAddress: string,
    readonly authorized = false,
  ) {
    super();
  }
  pause(): void {}
  end(text: string): void {
    this.ended = text;
  }
  setTimeout(ms: number): void {
    this.timeoutMs = ms;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
}

function guarded(cap: number) {
  // The fake's `authorized` stands for a certificate the fleet CA signed.
  const guard = new ConnectionGuard(connectionSettings({ unauthenticatedPerAddress: cap }), undefined, (socket) => socket.authorized);
  const server = new EventEmitter();
  guard.attach(server as unknown as Server);
  const open = (address: string, authorized = false): FakeSocket => {
    const socket = new FakeSocket(address, authorized);
    server.emit('secureConnection', socket);
    return socket;
  };
  return { guard, open };
}

/** A request on `socket` as far as the guard reads it. */
function requestOn(socket: FakeSocket): { request: FastifyRequest; reply: FastifyReply } {
  const raw = Object.assign(new EventEmitter(), { shouldKeepAlive: true });
  const reply = { raw, header: () => reply } as unknown as FastifyReply;
  return { request: { raw: { socket } } as unknown as FastifyRequest, reply };
}

describe('the cap on unauthenticated connections per address', () => {
  it('answers 429 and closes the connection beyond the cap, per address', () => {
    const { guard, open } = guarded(2);
    const held = [open('10.0.0.1'), open('10.0.0.1')];
    const refused = open('10.0.0.1');
    expect(held.map((s) => s.ended)).toEqual(['', '']);
    expect(refused.ended).toMatch(/^HTTP\/1\.1 429 Too Many Requests\r\n/);
    expect(refused.ended).toMatch(/\r\nretry-after: \d+\r\n/);
    expect(refused.ended).toContain('connection: close');
    expect(refused.ended).toContain('"code":"overloaded"');
    expect(guard.counts.refusedConnections).toBe(1);
    // Another address has its own count.
    expect(open('10.0.0.2').ended).toBe('');
  });

  it('frees a place when a connection closes or authenticates', () => {
    const { open, guard } = guarded(1);
    const first = open('10.0.0.1');
    expect(open('10.0.0.1').ended).not.toBe('');
    first.destroy();
    const second = open('10.0.0.1');
    expect(second.ended).toBe('');
    // An operator's token authenticated on it: it no longer counts.
    const { request, reply } = requestOn(second);
    guard.callerAuthenticated(request, reply, 'token', false);
    expect(open('10.0.0.1').ended).toBe('');
  });

  it('never counts a connection whose fleet client certificate was verified (a site behind one NAT address)', () => {
    const { open } = guarded(1);
    for (let i = 0; i < 10; i++) expect(open('10.0.0.1', true).ended).toBe('');
    expect(open('10.0.0.1').ended).toBe('');
  });

  it('gives the long clock to nodes only', () => {
    const { open, guard } = guarded(10);
    const node = open('10.0.0.1', true);
    const operator = open('10.0.0.1');
    guard.callerAuthenticated(requestOn(node).request, requestOn(node).reply, 'node', false);
    guard.callerAuthenticated(requestOn(operator).request, requestOn(operator).reply, 'token', false);
    expect(node.timeoutMs).toBe(CONNECTION_DEFAULTS.nodeIdleTimeoutMs);
    expect(operator.timeoutMs).toBeUndefined();
  });
});
