import { Writable } from 'node:stream';
import { ErrorBodySchema } from '@edgefleet/protocol';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Api } from '../../src/http/app.js';
import { installErrorHandling } from '../../src/http/errors.js';
import { answerClientError, frameworkErrors } from '../../src/http/framework-errors.js';
import { registerSomeRoutes } from '../../src/http/routes.js';
import type { Store } from '../../src/store/index.js';

/** Found by the HTTP fuzzer: these answers came in Fastify's shape, without our code and hint. */
describe('errors raised before a route runs are in the API’s error shape', () => {
  it('answers a path that is not valid percent-encoding with bad_request naming the path', async () => {
    const app = Fastify({ frameworkErrors }) as unknown as Api;
    installErrorHandling(app);
    registerSomeRoutes(app, { health: async () => ({ ok: true }) }, { store: {} as Store, ca: { certPem: '' } });
    for (const url of ['/v1/sources/%zz/sync', '/healthz%C0', '/v1/nodes/%u0041']) {
      const res = await app.inject({ url });
      expect(res.statusCode, url).toBe(400);
      const body = ErrorBodySchema.parse(JSON.parse(res.body));
      expect(body.error.code).toBe('bad_request');
      expect(body.error.message).toMatch(/percent-encoding/);
      expect(body.error.hint).toMatch(/%XX/);
    }
  });

  it('answers a path parameter longer than the router takes with 414 in our shape', async () => {
    const app = Fastify({ frameworkErrors }) as unknown as Api;
    installErrorHandling(app);
    registerSomeRoutes(app, { getNode: async () => ({}) as never }, { store: {} as Store, ca: { certPem: '' } });
    const res = await app.inject({ url: `/v1/nodes/${'a'.repeat(101)}` });
    expect(res.statusCode).toBe(414);
    const body = ErrorBodySchema.parse(JSON.parse(res.body));
    expect(body.error.code).toBe('bad_request');
    expect(body.error.message).toMatch(/longer than 100 characters/);
  });

  /** A socket that records what is written to it. */
  const fakeSocket = () => {
    let written = '';
    let destroyed = false;
    const socket = new Writable({
      write(chunk, _enc, cb) {
        written += chunk.toString();
        cb();
      },
    });
    socket.destroy = (() => {
      destroyed = true;
      return socket;
    }) as typeof socket.destroy;
    return { socket, text: () => written, destroyed: () => destroyed };
  };

  it.each([
    ['HPE_INVALID_METHOD', 400, /could not be read as HTTP\/1\.1/],
    ['HPE_HEADER_OVERFLOW', 431, /headers are larger/],
    ['ERR_HTTP_REQUEST_TIMEOUT', 408, /took too long/],
  ])('answers the HTTP parser’s %s with %i and a JSON error, then closes', (code, status, message) => {
    const s = fakeSocket();
    answerClientError(Object.assign(new Error('x'), { code }), s.socket as never);
    const [head, body] = s.text().split('\r\n\r\n') as [string, string];
    expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
    expect(head).toContain(`content-length: ${Buffer.byteLength(body)}`);
    const parsed = ErrorBodySchema.parse(JSON.parse(body));
    expect(parsed.error.code).toBe('bad_request');
    expect(parsed.error.message).toMatch(message);
    expect(parsed.error.hint.length).toBeGreaterThan(0);
    expect(s.destroyed()).toBe(true);
  });

  it('writes nothing to a connection the client reset', () => {
    const s = fakeSocket();
    answerClientError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }), s.socket as never);
    expect(s.text()).toBe('');
  });
});
