/**
 * What a kept-alive node connection costs the server in memory (issue 18: lan agents now
 * keep theirs between uploads). The server runs in this process; one node is enrolled by a
 * real agent; a child process then opens `count` mTLS connections with that node's
 * certificate, makes one authenticated request on each (`GET /v1/agent/desired`, so each
 * gets a node's long keep-alive) and leaves them open and idle. The server's RSS and heap
 * (after a full GC when Node runs with --expose-gc) are read before, with the connections
 * held, and once they were closed: RSS per connection is held − before (glibc's allocator
 * does not give the memory back after they close, so held − closed says nothing), heap per
 * connection is held − closed.
 */
import { spawn } from 'node:child_process';
import { connect, type TLSSocket } from 'node:tls';
import { sleep } from '@edgefleet/protocol';
import { startBenchFleet } from './fleet.js';

/** What the measurement found. */
export interface KeptConnectionsResult {
  connections: number;
  rssBeforeMb: number;
  rssWithMb: number;
  heapUsedBeforeMb: number;
  heapUsedWithMb: number;
  /** RSS and heap once the connections were closed again. */
  rssReleasedMb: number;
  heapUsedReleasedMb: number;
  /**
   * (RSS with − RSS before) / connections, in KiB: V8 heap plus native memory (OpenSSL's
   * per-connection state and buffers). The allocator keeps what it grew after they close.
   */
  rssPerConnectionKib: number;
  /** (heap with − heap once released) / connections, in KiB: the JavaScript part. */
  heapPerConnectionKib: number;
}

const CHILD_ENV = 'EDGEFLEET_BENCH_KEPT_CONNECTIONS';
const MB = 1024 * 1024;

/** Measures the server's memory with `count` idle kept-alive node connections against none. */
export async function measureKeptConnections(count: number, log: (line: string) => void): Promise<KeptConnectionsResult> {
  const fleet = await startBenchFleet();
  try {
    const node = await fleet.enroll('dddddddddddddddd', 'lan');
    const settle = async (): Promise<NodeJS.MemoryUsage> => {
      for (let k = 0; k < 4; k++) {
        (globalThis as { gc?: () => void }).gc?.();
        await sleep(1_000);
      }
      return process.memoryUsage();
    };
    const before = await settle();
    const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname], {
      env: {
        ...process.env,
        [CHILD_ENV]: JSON.stringify({ port: fleet.server.port, count, ca: node.identity.caPem, cert: node.identity.certPem, key: node.identity.keyPem }),
      },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the connection holder exited with code ${code}: ${out}`)));
    });
    log(`holding ${count} idle kept-alive node connections`);
    await sleep(3_000);
    const held = await settle();
    child.stdin.end();
    await new Promise((resolve) => child.once('exit', resolve));
    await sleep(3_000);
    const released = await settle();
    return {
      connections: count,
      rssBeforeMb: round(before.rss / MB),
      rssWithMb: round(held.rss / MB),
      heapUsedBeforeMb: round(before.heapUsed / MB),
      heapUsedWithMb: round(held.heapUsed / MB),
      rssReleasedMb: round(released.rss / MB),
      heapUsedReleasedMb: round(released.heapUsed / MB),
      rssPerConnectionKib: round((held.rss - before.rss) / 1024 / count),
      heapPerConnectionKib: round((held.heapUsed - released.heapUsed) / 1024 / count),
    };
  } finally {
    await fleet.close();
  }
}

function round(x: number): number {
  return Number(x.toPrecision(3));
}

/**
 * The child: opens the connections, one request each, and holds them until stdin closes.
 * Handshakes go 50 at a time; the requests one after another, each answered before the
 * next: a node holds one long poll at a time (a newer one ends the older with 429).
 */
async function holdConnections(config: { port: number; count: number; ca: string; cert: string; key: string }): Promise<void> {
  const sockets: TLSSocket[] = [];
  for (let i = 0; i < config.count; i += 50) {
    const batch = await Promise.all(Array.from({ length: Math.min(50, config.count - i) }, () => connectOne(config)));
    for (const socket of batch) sockets.push(await askOnce(socket));
  }
  process.stdout.write('ready\n');
  process.stdin.resume();
  process.stdin.on('end', () => {
    for (const s of sockets) s.destroy();
    process.exit(0);
  });
}

function connectOne(config: { port: number; ca: string; cert: string; key: string }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: config.port, ca: config.ca, cert: config.cert, key: config.key, servername: 'localhost' }, () =>
      resolve(socket),
    );
    socket.once('error', reject);
  });
}

/** One authenticated request on `socket` (so it gets a node's long keep-alive); resolves once its head arrived. */
function askOnce(socket: TLSSocket): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      if (!/^HTTP\/1\.1 200/.test(head)) {
        reject(new Error(`the server answered ${head.split('\r\n')[0]}: ${head.slice(head.indexOf('\r\n\r\n') + 4, 400)}`));
        return;
      }
      if (!/connection: keep-alive/i.test(head)) {
        reject(new Error(`the server did not keep the connection: ${head}`));
        return;
      }
      socket.off('data', onData);
      socket.on('data', () => {}); // the rest of the body, then nothing
      resolve(socket);
    };
    socket.on('data', onData);
    socket.write('GET /v1/agent/desired HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n');
  });
}

const childConfig = process.env[CHILD_ENV];
if (childConfig !== undefined) await holdConnections(JSON.parse(childConfig));
