/**
 * The HTTP fuzzer (issue 14, fuzzing campaign): malformed and half-valid requests to every
 * route of the route table, as every kind of caller (none, viewer, operator, admin, a node's
 * client certificate), against a real server over TLS. Used by the short CI campaign
 * (test/integration/http-fuzz.test.ts) and the long one (`npm run fuzz -- --runs N`).
 *
 * The routes come from `routeList()`, so a route added to the table is fuzzed without
 * touching this file. Inputs come from a seeded generator: the same seed sends the same
 * requests (what the server answers may still vary with timing, e.g. a 429 under load).
 *
 * What counts:
 * - `serverErrors`: answers with a 5xx status (each is a bug: bad input must be a 4xx);
 * - `failures`: 5xx answers, hangs (no answer within the per-request timeout, except a long
 *   poll or an event stream, which are aborted on purpose), 4xx answers under `/v1` without
 *   an `{"error":{"code","message"}}` body, exceptions the server process did not catch,
 *   and a server that no longer answers `/healthz`.
 * Connections the server closes without an answer are counted apart (`dropped`): that is
 * how Node's HTTP parser refuses a request it cannot read, which is not a failure.
 */
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { loadIdentity } from '@edgefleet/agent';
import { callersOf, ErrorBodySchema, mulberry32, type RouteSpec, routeList } from '@edgefleet/protocol';
import { Agent as Dispatcher, request } from 'undici';
import { z } from 'zod';
import { defaultWebDist } from '../packages/server/src/routes/web.js';
import type { TestFleet } from './fleet.js';

/** Who sends a fuzzed request. */
export type FuzzCaller = 'none' | 'viewer' | 'operator' | 'admin' | 'node';
/** Every kind of caller, each fuzzed. */
export const FUZZ_CALLERS: readonly FuzzCaller[] = ['none', 'viewer', 'operator', 'admin', 'node'];

/** A fleet prepared for fuzzing: a token of every role and a node's certificate. */
export interface FuzzTarget {
  url: string;
  host: string;
  port: number;
  ca: string;
  tokens: Record<'viewer' | 'operator' | 'admin', string>;
  node: { id: string; name: string; certPem: string; keyPem: string };
  /** Whether the server still answers `/healthz`. */
  healthy(): Promise<boolean>;
  close(): Promise<void>;
}

/** One request that went wrong, with enough to send it again. */
export interface FuzzFinding {
  kind: 'server-error' | 'hang' | 'bad-error-body' | 'crash' | 'unhealthy';
  route: string;
  caller: FuzzCaller;
  input: number;
  summary: string;
}

/** What a campaign found. */
export interface FuzzReport {
  inputs: number;
  failures: number;
  serverErrors: number;
  hangs: number;
  crashes: number;
  dropped: number;
  /** Long polls and event streams aborted after their timeout, as intended. */
  aborted: number;
  statuses: Record<string, number>;
  findings: FuzzFinding[];
  seconds: number;
}

/** How a campaign runs. */
export interface FuzzOptions {
  runs: number;
  seed?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** How long a request may take before it counts as a hang. */
  timeoutMs?: number;
  /** How long a long poll or event stream is held before it is aborted. */
  longLivedMs?: number;
  /** Called every `progressEvery` inputs. */
  onProgress?: (done: number, report: FuzzReport) => void;
  progressEvery?: number;
  /** At most this many findings are kept (counts go on). */
  maxFindings?: number;
  /** Called at once for each finding (a long campaign reports them as they come). */
  onFinding?: (finding: FuzzFinding) => void;
}

/**
 * Makes sure the server has a dashboard build to serve: without one every dashboard path
 * answers 503 "not built", which would hide the static file routes from the fuzzer. When
 * `packages/web/dist` is missing (a worktree that never ran `npm run build`), a stand-in
 * build in a temp folder is used through `EDGEFLEET_WEB_DIST`. Call before starting the server.
 */
export function ensureDashboardBuild(): void {
  if (process.env.EDGEFLEET_WEB_DIST !== undefined || existsSync(join(defaultWebDist(), 'index.html'))) return;
  const dist = mkdtempSync(join(tmpdir(), 'edgefleet-fuzz-web-'));
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><div id="root"></div>');
  writeFileSync(join(dist, 'assets', 'index-fuzz.js'), 'console.log(1)');
  process.env.EDGEFLEET_WEB_DIST = dist;
}

/** Prepares a running test fleet: API tokens of each role, and one enrolled node's certificate. */
export async function prepareFuzzTarget(fleet: TestFleet): Promise<FuzzTarget> {
  const tokens = {
    viewer: (await fleet.admin.createApiToken({ role: 'viewer' })).token,
    operator: (await fleet.admin.createApiToken({ role: 'operator' })).token,
    admin: fleet.adminToken,
  };
  const agent = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
  const until = Date.now() + 60_000;
  while (agent.agent.state.lastHeartbeatAt === undefined) {
    if (Date.now() > until) throw new Error('the fuzzing node did not enroll within 60 s');
    await new Promise((r) => setTimeout(r, 50));
  }
  agent.agent.stop();
  await agent.done;
  const identity = loadIdentity(agent.dataDir);
  if (identity === undefined) throw new Error('the fuzzing node has no identity after enrolling');
  const url = new URL(fleet.server.url);
  const probe = new Dispatcher({ connect: { ca: fleet.ca } });
  return {
    url: fleet.server.url,
    host: url.hostname,
    port: Number(url.port),
    ca: fleet.ca,
    tokens,
    node: { id: identity.nodeId, name: identity.name, certPem: identity.certPem, keyPem: identity.keyPem },
    async healthy() {
      try {
        const res = await request(`${fleet.server.url}/healthz`, { dispatcher: probe, signal: AbortSignal.timeout(10_000) });
        await res.body.dump();
        return res.statusCode === 200;
      } catch {
        return false;
      }
    },
    async close() {
      await probe.close();
    },
  };
}

// --- a seeded generator ---------------------------------------------------------------

/** The campaign's dice: `mulberry32` (the same numbers for the same seed on every machine) and helpers. */
export class FuzzRandom {
  readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const HEX64 = 'a'.repeat(64);
/** Strings that mean something somewhere in the fleet, and strings that break things. */
const INTERESTING_STRINGS: readonly string[] = [
  '',
  ' ',
  'x',
  'web',
  'pi5-hailo8l',
  'site=a',
  'site in (a,b),!legacy',
  'k notin (',
  '!',
  '=,=',
  '5s',
  '1h30m',
  '99999999999999999999d',
  '1e400s',
  `sha256:${HEX64}`,
  'sha256:',
  'sha256:ZZ',
  '../../../../etc/passwd',
  '/etc/passwd',
  'file:///etc/passwd',
  'http://127.0.0.1:1/',
  '%00',
  '\u0000',
  '\ud800',
  '\uffff',
  '😀',
  'a'.repeat(300),
  'a'.repeat(70_000),
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'NaN',
  '-1',
  '1e309',
  '0x10',
  'true',
  'null',
  '{"a":1}',
  '[]',
  `EF1${HEX64}::${'0'.repeat(12)}.${'A'.repeat(43)}`,
  `efa_${'0'.repeat(12)}_${'A'.repeat(43)}`,
  '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n',
  '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----',
  '1970-01-01T00:00:00Z',
  '9999-12-31T23:59:59.999Z',
  '275760-09-13T00:00:00.001Z',
  'ed25519',
  'onnx',
  'model-server',
  'process',
  'pause',
  'resume',
  'full',
  'abort',
  'now',
  'firing',
  'all',
  'viewer',
  'operator',
  'admin',
  'stdout',
  'info',
  'edgefleet.dev/v1',
  'Deployment',
];
const INTERESTING_NUMBERS: readonly number[] = [
  0,
  -0,
  1,
  -1,
  2,
  5,
  63,
  64,
  100,
  255,
  256,
  300,
  301,
  1000,
  5000,
  5001,
  65535,
  65536,
  100_000,
  2 ** 31,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 63,
  -(2 ** 53),
  1e21,
  1e300,
  -1e300,
  0.5,
  -0.5,
  1e-7,
  5e-324,
  Number.MAX_VALUE,
  8.64e15,
  8.64e15 + 1,
  1e20,
];

// --- values from the route's schemas -------------------------------------------------

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  default?: unknown;
};

const schemaCache = new Map<z.ZodType, JsonSchema>();
function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  let js = schemaCache.get(schema);
  if (js === undefined) {
    try {
      js = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as JsonSchema;
    } catch {
      js = {};
    }
    schemaCache.set(schema, js);
  }
  return js;
}

/** Any JSON value, small, of random shape. */
function randomJson(rnd: FuzzRandom, depth = 0): unknown {
  const r = rnd.int(depth > 3 ? 5 : 8);
  switch (r) {
    case 0:
      return null;
    case 1:
      return rnd.chance(0.5);
    case 2:
      return rnd.pick(INTERESTING_NUMBERS) * (rnd.chance(0.1) ? -1 : 1);
    case 3:
    case 4:
      return rnd.pick(INTERESTING_STRINGS);
    case 5:
      return Array.from({ length: rnd.int(4) }, () => randomJson(rnd, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rnd.int(4); i > 0; i--) o[rnd.pick(INTERESTING_STRINGS).slice(0, 20)] = randomJson(rnd, depth + 1);
      return o;
    }
  }
}

/**
 * A value that fits `schema` most of the way down, with a mistake somewhere: a wrong type,
 * a number out of range, a missing or an extra field. Mostly-valid inputs reach the
 * handlers; random ones only test the validation.
 */
function valueFor(schema: JsonSchema, rnd: FuzzRandom, depth = 0): unknown {
  if (depth > 6 || rnd.chance(0.04)) return randomJson(rnd, depth);
  if (schema.const !== undefined) return schema.const;
  if (schema.enum !== undefined && schema.enum.length > 0) return rnd.chance(0.9) ? rnd.pick(schema.enum) : rnd.pick(INTERESTING_STRINGS);
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives !== undefined && alternatives.length > 0) return valueFor(rnd.pick(alternatives), rnd, depth + 1);
  if (schema.allOf !== undefined && schema.allOf.length > 0) return valueFor(rnd.pick(schema.allOf), rnd, depth + 1);
  const type = Array.isArray(schema.type) ? rnd.pick(schema.type) : schema.type;
  switch (type) {
    case 'object': {
      const o: Record<string, unknown> = {};
      const props = schema.properties ?? {};
      for (const [key, sub] of Object.entries(props)) {
        const required = schema.required?.includes(key) ?? false;
        if (required ? rnd.chance(0.97) : rnd.chance(0.5)) o[key] = valueFor(sub, rnd, depth + 1);
      }
      if (schema.additionalProperties !== undefined && typeof schema.additionalProperties === 'object') {
        for (let i = rnd.int(3); i > 0; i--) o[rnd.pick(INTERESTING_STRINGS).slice(0, 80)] = valueFor(schema.additionalProperties, rnd, depth + 1);
      }
      if (rnd.chance(0.03)) o[rnd.pick(INTERESTING_STRINGS).slice(0, 30)] = randomJson(rnd, depth + 1);
      return o;
    }
    case 'array': {
      if (schema.prefixItems !== undefined) return schema.prefixItems.map((s) => valueFor(s, rnd, depth + 1));
      const n = rnd.chance(0.02) ? 200 : rnd.int(4);
      return Array.from({ length: n }, () => valueFor(schema.items ?? {}, rnd, depth + 1));
    }
    case 'string':
      if (rnd.chance(0.2) && schema.maxLength !== undefined) return 'a'.repeat(schema.maxLength + (rnd.chance(0.5) ? 1 : 0));
      return rnd.pick(INTERESTING_STRINGS);
    case 'integer':
    case 'number': {
      if (rnd.chance(0.3) && schema.minimum !== undefined) return schema.minimum - (rnd.chance(0.5) ? 1 : 0);
      if (rnd.chance(0.3) && schema.maximum !== undefined) return schema.maximum + (rnd.chance(0.5) ? 1 : 0);
      return rnd.pick(INTERESTING_NUMBERS);
    }
    case 'boolean':
      return rnd.chance(0.5);
    case 'null':
      return null;
    default:
      return randomJson(rnd, depth);
  }
}

// --- requests -------------------------------------------------------------------------

/** One generated request: sent with undici, or as raw bytes on a TLS socket. */
export interface FuzzRequest {
  route: RouteSpec & { name: string };
  caller: FuzzCaller;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  /** Raw bytes to write on a fresh TLS connection instead (malformed HTTP itself). */
  raw?: Buffer;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'PROPFIND', 'get'];
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json;;;',
  'application/octet-stream',
  'application/vnd.edgefleet.telemetry.v1',
  'application/vnd.edgefleet.logs.v1+json',
  'text/plain',
  'text/plain; charset=utf-8',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/x-pem-file',
  '*/*',
  ' ',
  'garbage',
  'APPLICATION/JSON',
];
const CONTENT_ENCODINGS = ['gzip', 'deflate', 'br', 'identity', 'compress', 'gzip, gzip', 'x-unknown', ''];

/** `encodeURIComponent` that takes any string (a lone surrogate goes as U+FFFD's bytes). */
function pct(text: string): string {
  return Array.from(Buffer.from(text, 'utf8'), (b) =>
    /[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`,
  ).join('');
}

/** A path param value: a fitting one, a real one, or junk. */
function paramValue(name: string, route: RouteSpec, target: FuzzTarget, rnd: FuzzRandom): string {
  const r = rnd.int(10);
  if (r < 3) {
    // Well-formed: reaches the handler.
    if (name === 'digest') return `sha256:${rnd.bytes(32).toString('hex')}`;
    if (name === 'command') return rnd.pick(['pause', 'resume', 'full', 'abort', 'now', 'promote', 'undo']);
    return rnd.pick(['web', 'x', 'detector', 'nope', '0123456789ab']);
  }
  // A real node, for reads only: a fuzzed DELETE must not decommission the fuzzing node.
  if (r < 5 && name === 'ref' && route.method === 'GET') return rnd.chance(0.5) ? target.node.id : target.node.name;
  if (r < 8) return pct(rnd.pick(INTERESTING_STRINGS));
  return rnd.pick(['%', '%zz', '%00', '%2e%2e', '..', '.', '%2F', '%u0041', '%C0%AF', '%ff%fe', 'a/b', ';x=1', '~', `${'%41'.repeat(2000)}`]);
}

function fillPath(route: RouteSpec, target: FuzzTarget, rnd: FuzzRandom): string {
  let path = route.path.replace(/:([A-Za-z]+)/g, (_m, name: string) => paramValue(name, route, target, rnd));
  if (path.endsWith('/*'))
    path = `${path.slice(0, -1)}${rnd.pick(['index.html', 'assets/x.js', '..%2f..%2fetc%2fpasswd', '%00', 'v1/nodes', '', 'a'.repeat(3000)])}`;
  // Spellings of the same path that a matcher on the raw text would get wrong.
  switch (rnd.int(14)) {
    case 0:
      return path.toUpperCase();
    case 1:
      return `${path}/`;
    case 2:
      return path.replace('/v1/', '//v1/');
    case 3:
      return path.replace('/v1/', '/v1/./');
    case 4:
      return path.replace(/[a-z]/, (c) => `%${c.charCodeAt(0).toString(16)}`);
    case 5:
      return `${path}/${rnd.pick(['x', '..', '%00', 'extra/deeper'])}`;
    case 6:
      return `${path}#frag`;
    default:
      return path;
  }
}

function queryFor(route: RouteSpec, rnd: FuzzRandom): string {
  const parts: string[] = [];
  const shape = route.query?.shape ?? {};
  for (const key of Object.keys(shape)) {
    if (!rnd.chance(0.6)) continue;
    let value: string;
    if (key === 'wait') value = rnd.pick(['0', '0', '0', '1', '-1', '301', 'NaN', '1e3', '', 'x', '0.5']);
    else value = String(rnd.chance(0.5) ? rnd.pick(INTERESTING_NUMBERS) : rnd.pick(INTERESTING_STRINGS));
    parts.push(`${pct(key)}=${pct(value)}`);
    if (rnd.chance(0.05)) parts.push(`${pct(key)}=again`); // the key twice: an array
  }
  if (rnd.chance(0.1))
    parts.push(rnd.pick(['__proto__[x]=1', 'constructor[prototype][x]=1', 'a[b]=c', '%', '=', '&&', 'x=%zz', `k=${'v'.repeat(5000)}`, 'limit[]=1']));
  if (parts.length === 0) return rnd.chance(0.05) ? '?' : '';
  return `?${parts.join('&')}`;
}

function jsonBodyFor(route: RouteSpec, rnd: FuzzRandom): Buffer {
  const schema = route.body?.kind === 'json' ? route.body.schema : undefined;
  const r = rnd.int(20);
  if (r < 12 && schema !== undefined) return Buffer.from(JSON.stringify(valueFor(jsonSchemaOf(schema), rnd)));
  if (r < 14) return Buffer.from(JSON.stringify(randomJson(rnd)));
  if (r === 14) {
    const depth = rnd.pick([100, 1000, 10_000, 100_000]);
    return Buffer.from(`${'['.repeat(depth)}${']'.repeat(rnd.chance(0.5) ? depth : 0)}`);
  }
  if (r === 15) return Buffer.from(rnd.pick(['{"__proto__":{"x":1}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":1,"a":2}', '\ufeff{}', '{}garbage', '']));
  if (r === 16) return rnd.bytes(rnd.int(200));
  // A valid-ish body cut short or with a byte flipped.
  const text = Buffer.from(JSON.stringify(schema === undefined ? randomJson(rnd) : valueFor(jsonSchemaOf(schema), rnd)));
  if (text.length > 1 && rnd.chance(0.5)) return text.subarray(0, rnd.int(text.length));
  if (text.length > 0) text[rnd.int(text.length)] = rnd.int(256);
  return text;
}

function binaryBodyFor(rnd: FuzzRandom): Buffer {
  const json = Buffer.from(JSON.stringify(randomJson(rnd)));
  switch (rnd.int(8)) {
    case 0:
      return rnd.bytes(rnd.int(64));
    case 1:
      return gzipSync(json);
    case 2:
      return deflateSync(json);
    case 3:
      // A small body that inflates to a lot: the decoder must stop at its limit.
      return gzipSync(Buffer.alloc(rnd.pick([1 << 20, 16 << 20]), rnd.int(256)));
    case 4:
      return deflateSync(rnd.bytes(rnd.int(512)));
    case 5: {
      const z = gzipSync(json);
      if (z.length > 0) z[rnd.int(z.length)] = rnd.int(256);
      return z;
    }
    case 6:
      return Buffer.from([1, ...rnd.bytes(rnd.int(128))]); // a version byte and junk
    default:
      return Buffer.alloc(0);
  }
}

function compress(body: Buffer, encoding: string): Buffer {
  if (encoding === 'gzip') return gzipSync(body);
  if (encoding === 'deflate') return deflateSync(body);
  if (encoding === 'br') return brotliCompressSync(body);
  return body;
}

function authorizationFor(caller: FuzzCaller, target: FuzzTarget, rnd: FuzzRandom): string | undefined {
  if (caller === 'viewer' || caller === 'operator' || caller === 'admin') {
    if (rnd.chance(0.92)) return `Bearer ${target.tokens[caller]}`;
    const t = target.tokens[caller];
    return rnd.pick([`bearer ${t}`, `Bearer  ${t}`, `Bearer ${t.slice(0, -1)}B`, `Basic ${Buffer.from(`x:${t}`).toString('base64')}`, t, `Bearer ${t}x`]);
  }
  if (caller === 'none' && rnd.chance(0.3))
    return rnd.pick(['Bearer', 'Bearer ', 'Bearer x', `Bearer efa_${'0'.repeat(12)}_${'A'.repeat(43)}`, `Bearer ${'a'.repeat(8000)}`, 'Negotiate x', '']);
  if (caller === 'node' && rnd.chance(0.05)) return `Bearer ${target.tokens.admin}`;
  return undefined;
}

/** Generates input number `n` of a campaign. */
export function generateRequest(target: FuzzTarget, rnd: FuzzRandom): FuzzRequest {
  const all = routeList();
  const route = rnd.pick(all) as RouteSpec & { name: string };
  // Mostly a caller the route admits (deeper code), else any.
  const allowed = callersOf(route).flatMap((k): FuzzCaller[] => (k === 'public' ? ['none'] : [k as FuzzCaller]));
  const caller = rnd.chance(0.6) && allowed.length > 0 ? rnd.pick(allowed) : rnd.pick(FUZZ_CALLERS);
  const method = rnd.chance(0.93) ? route.method : rnd.pick(METHODS);
  const path = `${fillPath(route, target, rnd)}${queryFor(route, rnd)}`;
  const headers: Record<string, string> = {};
  const auth = authorizationFor(caller, target, rnd);
  if (auth !== undefined) headers.authorization = auth;

  let body: Buffer | undefined;
  if (route.body !== undefined || rnd.chance(0.05)) {
    body = route.body?.kind === 'binary' && rnd.chance(0.8) ? binaryBodyFor(rnd) : jsonBodyFor(route, rnd);
    const natural = route.body?.kind === 'binary' ? route.body.contentType : 'application/json';
    const typeRoll = rnd.next();
    if (typeRoll < 0.8) headers['content-type'] = natural;
    else if (typeRoll < 0.96) headers['content-type'] = rnd.pick(CONTENT_TYPES);
    if (rnd.chance(0.1)) {
      const encoding = rnd.pick(CONTENT_ENCODINGS);
      headers['content-encoding'] = encoding;
      if (rnd.chance(0.7)) body = compress(body, encoding);
    }
  }
  if (route.response.kind === 'bytes' || rnd.chance(0.03)) {
    if (rnd.chance(0.6))
      headers.range = rnd.pick([
        'bytes=0-',
        'bytes=0-0',
        'bytes=-1',
        'bytes=5-1',
        'bytes=99999999999999999999-',
        'bytes=-0',
        'bytes=0-1,2-3',
        'items=0-1',
        'bytes=',
        'bytes=-',
        `bytes=${2 ** 60}-`,
        'bytes=1e3-',
      ]);
    if (rnd.chance(0.3)) headers['if-none-match'] = rnd.pick(['*', '"x"', `W/"sha256:${HEX64}"`, ',,,', '']);
    if (rnd.chance(0.3)) headers['if-range'] = rnd.pick(['"x"', 'Thu, 01 Jan 1970 00:00:00 GMT', '']);
  }
  if (rnd.chance(0.05)) headers['accept-encoding'] = rnd.pick(['gzip', 'br', '*', 'identity;q=0', 'x']);
  if (rnd.chance(0.05)) headers['x-forwarded-for'] = rnd.pick(['1.2.3.4', 'garbage', '::1, 127.0.0.1']);
  if (rnd.chance(0.03)) headers[`x-${rnd.pick(['a', 'b', 'long'])}`] = 'v'.repeat(rnd.pick([1, 100, 8000]));
  if (rnd.chance(0.02)) headers.expect = '100-continue';

  const req: FuzzRequest = { route, caller, method, path, headers, body };
  if (rnd.chance(0.04)) req.raw = rawRequest(req, rnd);
  return req;
}

/** Malformed HTTP/1.1 itself: what undici would refuse to send. */
function rawRequest(req: FuzzRequest, rnd: FuzzRandom): Buffer {
  const body = req.body ?? Buffer.alloc(0);
  const head = [`${req.method} ${req.path} HTTP/1.1`, 'host: localhost', ...Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`)];
  switch (rnd.int(10)) {
    case 0:
      head.push(`content-length: ${body.length}`, `content-length: ${body.length + 1}`);
      break;
    case 1:
      head.push('transfer-encoding: chunked', `content-length: ${body.length}`);
      return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')]);
    case 2:
      head.push('transfer-encoding: chunked');
      return Buffer.from(`${head.join('\r\n')}\r\n\r\n${rnd.pick(['zz', 'fffffffffffffffff', '-1', '1;ext=x\r\nA', '5\r\nab'])}\r\n\r\n`);
    case 3:
      head[0] = rnd.pick([
        `${req.method} ${req.path} HTTP/1.0`,
        `${req.method} ${req.path} HTTP/9.9`,
        `${req.method} ${req.path}`,
        `${req.method}  ${req.path} HTTP/1.1`,
        `${req.method} https://localhost${req.path} HTTP/1.1`,
        `${req.method} * HTTP/1.1`,
      ]);
      head.push(`content-length: ${body.length}`);
      break;
    case 4:
      head.push(`x-bad: a\u0000b`, `content-length: ${body.length}`);
      break;
    case 5:
      head.push(`x-huge: ${'h'.repeat(rnd.pick([20_000, 70_000]))}`, `content-length: ${body.length}`);
      break;
    case 6:
      head.push(`content-length: ${rnd.pick(['-1', 'abc', '1e3', ' 5', '99999999999999999999'])}`);
      break;
    case 7:
      head.push(`content-length: ${body.length + 10}`); // shorter than said: the socket is ended below
      break;
    case 8:
      head.push('bad header line without colon', `content-length: ${body.length}`);
      break;
    default:
      head.push(`content-length: ${body.length}`, 'content-type: application/json', 'content-type: text/plain');
  }
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), body]);
}

/** True for routes that hold a request open on purpose: an event stream or a long poll. */
export function isLongLived(route: RouteSpec): boolean {
  return route.response.kind === 'sse' || (route.query !== undefined && 'wait' in route.query.shape);
}

// --- sending -----------------------------------------------------------------------------

type Outcome =
  | { kind: 'answer'; status: number; body: string; contentType: string }
  | { kind: 'dropped'; reason: string }
  | { kind: 'timeout' }
  | { kind: 'aborted' };

/** Sends fuzzed requests as each kind of caller; one keep-alive pool per certificate. */
export class FuzzSender {
  private readonly anonymous: Dispatcher;
  private readonly withCert: Dispatcher;
  constructor(
    private readonly target: FuzzTarget,
    private readonly timeoutMs: number,
    private readonly longLivedMs: number,
  ) {
    const opts = { headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 10_000 };
    this.anonymous = new Dispatcher({ ...opts, connect: { ca: target.ca } });
    this.withCert = new Dispatcher({ ...opts, connect: { ca: target.ca, cert: target.node.certPem, key: target.node.keyPem } });
  }

  async send(req: FuzzRequest): Promise<Outcome> {
    return req.raw !== undefined ? this.sendRaw(req) : this.sendParsed(req);
  }

  private async sendParsed(req: FuzzRequest): Promise<Outcome> {
    const longLived = isLongLived(req.route);
    const signal = AbortSignal.timeout(longLived ? this.longLivedMs : this.timeoutMs);
    try {
      const res = await request(`${this.target.url}${req.path}`, {
        method: req.method as 'GET',
        headers: req.headers,
        body: req.body,
        dispatcher: req.caller === 'node' ? this.withCert : this.anonymous,
        signal,
      });
      const type = String(res.headers['content-type'] ?? '');
      if (type.startsWith('text/event-stream')) {
        // An event stream answers at once and never ends: the status is what we check.
        res.body.destroy();
        return { kind: 'answer', status: res.statusCode, body: '', contentType: type };
      }
      const text = await res.body.text();
      return { kind: 'answer', status: res.statusCode, body: text.slice(0, 100_000), contentType: type };
    } catch (err) {
      const e = err as Error & { code?: string };
      if (signal.aborted) return longLived ? { kind: 'aborted' } : { kind: 'timeout' };
      if (e.code === 'UND_ERR_HEADERS_TIMEOUT' || e.code === 'UND_ERR_BODY_TIMEOUT') return longLived ? { kind: 'aborted' } : { kind: 'timeout' };
      if (e.code === 'UND_ERR_INVALID_ARG' || e.name === 'InvalidArgumentError') return { kind: 'dropped', reason: `client refused to send: ${e.message}` };
      return { kind: 'dropped', reason: `${e.code ?? e.name}: ${e.message}` };
    }
  }

  /** Writes raw bytes on a fresh TLS connection, ends our side, and reads the status line. */
  private sendRaw(req: FuzzRequest): Promise<Outcome> {
    return new Promise((resolve) => {
      const cert = req.caller === 'node' ? { cert: this.target.node.certPem, key: this.target.node.keyPem } : {};
      const socket = tlsConnect({ host: this.target.host, port: this.target.port, ca: this.target.ca, servername: 'localhost', ...cert });
      let data = Buffer.alloc(0);
      let settled = false;
      const finish = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      };
      const timer = setTimeout(() => finish(isLongLived(req.route) ? { kind: 'aborted' } : { kind: 'timeout' }), this.timeoutMs);
      socket.on('secureConnect', () => {
        socket.write(req.raw as Buffer);
        socket.end();
      });
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = data.subarray(0, end).toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
        if (m === null) return finish({ kind: 'dropped', reason: 'not an HTTP answer' });
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? -1);
        const type = /\r\ncontent-type: *([^\r]*)/i.exec(head)?.[1] ?? '';
        if (type.startsWith('text/event-stream') || length < 0 || data.length >= end + 4 + length)
          finish({
            kind: 'answer',
            status: Number(m[1]),
            body: data
              .subarray(end + 4)
              .toString('utf8')
              .slice(0, 2000),
            contentType: type,
          });
      });
      socket.on('error', (err) => finish({ kind: 'dropped', reason: err.message }));
      socket.on('close', () => {
        // A complete head without a length: the body ran to the close.
        const end = data.indexOf('\r\n\r\n');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(data.toString('latin1'));
        if (m !== null && end >= 0)
          finish({
            kind: 'answer',
            status: Number(m[1]),
            body: data
              .subarray(end + 4)
              .toString('utf8')
              .slice(0, 2000),
            contentType: '',
          });
        else finish({ kind: 'dropped', reason: 'closed without an answer' });
      });
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.anonymous.destroy(), this.withCert.destroy()]);
  }
}

/** A line that names a request well enough to send it again by hand. */
export function describeRequest(req: FuzzRequest): string {
  const body = req.body === undefined ? '' : ` body(${req.body.length}B)=${JSON.stringify(req.body.subarray(0, 300).toString('latin1'))}`;
  const raw = req.raw === undefined ? '' : ` raw=${JSON.stringify(req.raw.subarray(0, 400).toString('latin1'))}`;
  return `${req.method} ${req.path.slice(0, 300)} as ${req.caller} headers=${JSON.stringify(req.headers).slice(0, 400)}${body}${raw}`;
}

/** Whether a 4xx answer under /v1 carries our error shape with a message. */
function hasErrorBody(text: string): boolean {
  try {
    return ErrorBodySchema.safeParse(JSON.parse(text)).success;
  } catch {
    return false;
  }
}

/**
 * Runs a campaign of `runs` inputs against `target`. Exceptions the process did not catch
 * while it runs (the server runs in this process) count as crashes.
 */
export async function runHttpFuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzReport> {
  const started = performance.now();
  const rnd = new FuzzRandom(opts.seed ?? 1);
  const concurrency = opts.concurrency ?? 8;
  const maxFindings = opts.maxFindings ?? 50;
  const sender = new FuzzSender(target, opts.timeoutMs ?? 15_000, opts.longLivedMs ?? 1_000);
  const report: FuzzReport = { inputs: 0, failures: 0, serverErrors: 0, hangs: 0, crashes: 0, dropped: 0, aborted: 0, statuses: {}, findings: [], seconds: 0 };
  const find = (f: FuzzFinding) => {
    report.failures++;
    opts.onFinding?.(f);
    if (report.findings.length < maxFindings) report.findings.push(f);
  };
  let current: FuzzRequest | undefined;
  const onCrash = (err: unknown) => {
    report.crashes++;
    find({
      kind: 'crash',
      route: current?.route.name ?? '?',
      caller: current?.caller ?? 'none',
      input: report.inputs,
      summary: String((err as Error)?.stack ?? err),
    });
  };
  process.on('uncaughtException', onCrash);
  process.on('unhandledRejection', onCrash);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const n = next++;
      if (n >= opts.runs) return;
      const req = generateRequest(target, rnd);
      current = req;
      const outcome = await sender.send(req);
      report.inputs++;
      const at = { route: req.route.name, caller: req.caller, input: n };
      switch (outcome.kind) {
        case 'answer': {
          report.statuses[outcome.status] = (report.statuses[outcome.status] ?? 0) + 1;
          if (outcome.status >= 500) {
            report.serverErrors++;
            find({ kind: 'server-error', ...at, summary: `${outcome.status} ${outcome.body.slice(0, 300)} ← ${describeRequest(req)}` });
          } else if (outcome.status >= 400 && req.method !== 'HEAD' && req.raw === undefined && req.path.startsWith('/v1/') && !hasErrorBody(outcome.body)) {
            find({ kind: 'bad-error-body', ...at, summary: `${outcome.status} ${JSON.stringify(outcome.body.slice(0, 300))} ← ${describeRequest(req)}` });
          }
          break;
        }
        case 'timeout':
          report.hangs++;
          find({ kind: 'hang', ...at, summary: describeRequest(req) });
          break;
        case 'aborted':
          report.aborted++;
          break;
        case 'dropped':
          report.dropped++;
          break;
      }
      if (opts.onProgress !== undefined && report.inputs % (opts.progressEvery ?? 1000) === 0) {
        report.seconds = (performance.now() - started) / 1000;
        opts.onProgress(report.inputs, report);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
    if (!(await target.healthy()))
      find({ kind: 'unhealthy', route: 'health', caller: 'none', input: report.inputs, summary: 'the server no longer answers /healthz' });
  } finally {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
    await sender.close();
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}
