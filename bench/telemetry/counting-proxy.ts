/**
 * A plain TCP proxy that counts every byte it forwards, in both directions. Put between a
 * TLS client and its server it sees TLS records, so what it counts is what a SIM card pays
 * for above TCP: TLS handshakes, record framing, HTTP heads and bodies. It also walks the
 * TLS record headers (5 bytes: type, version, length) to tell framing from payload, so the
 * benchmark can say where the bytes go without decrypting anything.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Byte counts of one direction. */
export interface DirectionCount {
  /** Bytes on the socket (TLS records, headers included). */
  bytes: number;
  /** TLS records seen. */
  records: number;
  /**
   * Bytes that are TLS framing: per encrypted record (type 23) its 5-byte header, 16-byte
   * AEAD tag and 1-byte inner content type (AES-GCM and ChaCha20-Poly1305 in TLS 1.3); the
   * whole of every plaintext record (ClientHello, ServerHello, change_cipher_spec). TLS 1.3
   * encrypts most of the handshake too, so only on a connection past its handshake is
   * `bytes − framing` exactly the HTTP bytes.
   */
  framing: number;
}

export interface ProxyCount {
  /** Client → server. */
  up: DirectionCount;
  /** Server → client. */
  down: DirectionCount;
  /** TCP connections the proxy accepted. */
  connections: number;
  /**
   * Bytes (up, down) by what the connection carried when they passed: the kind its client
   * last named for it ({@link CountingProxy.carrying}), `handshake` before it named any.
   */
  byKind: Record<string, { up: number; down: number }>;
}

/** Walks TLS record headers across chunk boundaries. */
class RecordWalker {
  private header = Buffer.alloc(5);
  private headerFill = 0;
  /** Body bytes of the current record still to skip. */
  private remaining = 0;

  constructor(private readonly count: DirectionCount) {}

  feed(chunk: Buffer): void {
    this.count.bytes += chunk.length;
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, chunk.length - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      const take = Math.min(5 - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + take);
      this.headerFill += take;
      i += take;
      if (this.headerFill < 5) break;
      this.headerFill = 0;
      const type = this.header[0] as number;
      const length = this.header.readUInt16BE(3);
      this.count.records++;
      this.count.framing += type === 23 ? 5 + 17 : 5 + length;
      this.remaining = length;
    }
  }
}

/** See the module comment. */
export class CountingProxy {
  readonly count: ProxyCount = {
    up: { bytes: 0, records: 0, framing: 0 },
    down: { bytes: 0, records: 0, framing: 0 },
    connections: 0,
    byKind: {},
  };
  /** What each connection carries now, by the client's port (its local port, the proxy's remote one). */
  private readonly kinds = new Map<number, string>();
  private readonly open = new Set<Socket>();
  private idleWaiters: (() => void)[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on 127.0.0.1 (a free port) and forwards every connection to `target`. */
  static async start(target: { host: string; port: number }): Promise<CountingProxy> {
    let proxy: CountingProxy | undefined;
    const server = createServer((client) => proxy?.accept(client, target));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the counting proxy did not get a TCP port');
    proxy = new CountingProxy(server, address.port);
    return proxy;
  }

  /** A copy of the counts so far. */
  snapshot(): ProxyCount {
    const byKind = Object.fromEntries(Object.entries(this.count.byKind).map(([k, v]) => [k, { ...v }]));
    return { up: { ...this.count.up }, down: { ...this.count.down }, connections: this.count.connections, byKind };
  }

  /**
   * The client says what its connection from `clientPort` carries from now on (a request of
   * one kind: it sends one at a time per connection). Called as the request's head is written,
   * before its bytes reach the proxy, so they and the answer are counted under `kind`.
   */
  carrying(clientPort: number, kind: string): void {
    this.kinds.set(clientPort, kind);
  }

  private countKind(port: number | undefined, direction: 'up' | 'down', bytes: number): void {
    const kind = (port === undefined ? undefined : this.kinds.get(port)) ?? 'handshake';
    const k = this.count.byKind[kind] ?? { up: 0, down: 0 };
    k[direction] += bytes;
    this.count.byKind[kind] = k;
  }

  /** Connections open right now (both halves counted as one). */
  get openConnections(): number {
    return this.open.size;
  }

  /** Settles once every proxied connection has closed (so the last bytes are counted). */
  idle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    this.count.connections++;
    this.open.add(client);
    const port = client.remotePort;
    // A new connection starts with its handshake, whatever an earlier one from this port carried.
    if (port !== undefined) this.kinds.delete(port);
    const upstream = connect(target.port, target.host);
    // Without this, Nagle's algorithm and delayed ACKs stall small writes by 40 ms on loopback.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const up = new RecordWalker(this.count.up);
    const down = new RecordWalker(this.count.down);
    client.on('data', (chunk: Buffer) => {
      up.feed(chunk);
      this.countKind(port, 'up', chunk.length);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      down.feed(chunk);
      this.countKind(port, 'down', chunk.length);
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      upstream.destroy();
      this.open.delete(client);
      if (this.open.size === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }
}
