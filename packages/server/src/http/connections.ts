/**
 * How long the server waits for a connection, and how many unauthenticated connections one
 * client address may hold (issue 14: 40 TLS sockets that sent an enrollment's headers and one
 * byte of body held the enrollment slots forever; nothing timed them out).
 *
 * Every connection has three clocks, short by default:
 * - headers: from a request's first byte (or the connection's start) to the end of its
 *   headers; Node's own `headersTimeout`, answered with 408 and a close;
 * - body: from the headers to the last byte of the body; our deadline per request, which
 *   closes the connection. Only an operator's streamed upload (an artifact, authenticated
 *   by its token before a byte is read) is exempt: it is bounded by the idle clock instead;
 * - idle: no byte either way for this long closes the connection (`server.timeout`), and
 *   a kept-alive connection is closed after `keepAliveTimeoutMs` between requests.
 * Authenticated nodes get the long idle clock (`nodeIdleTimeoutMs`), and only they: their
 * desired-state long poll waits minutes without a byte, and a metered node keeps its one
 * connection between uploads 15 minutes apart (a new TLS handshake costs more bytes than
 * an upload, docs/TELEMETRY.md).
 *
 * A connection is unauthenticated until one of its requests is authenticated as a node or
 * an API token; one that presents a client certificate the fleet CA signed is counted as
 * a node's from the start (a site behind one NAT address reconnecting after an outage must
 * not hit the cap). Beyond the cap, a new connection gets a 429 and is closed at once.
 *
 * All connections together are capped too (`maxConnections`, by default what the process's
 * open-file limit leaves after a reserve for the database, artifacts and logs): past it, Node
 * closes a new connection before TLS. Without it, clients piling up connections (an open-loop
 * load, a reconnect storm) took every file descriptor, and the server, unable to open a file,
 * failed (bench:capacity at 3,844 reports/s, issue 18: "EMFILE: too many open files").
 *
 * Before the cap is reached, idle kept-alive connections make room: once the connections
 * open come within {@link shedHeadroom} of the cap, each new one closes the connection that
 * has been idle between requests the longest (a long poll waiting is a request, never idle).
 * Without it a fleet near the cap collapsed: at 7,500 lan nodes (two kept connections each)
 * a release's downloads needed a third, the cap refused every new connection, heartbeats
 * among them, and 5,000 nodes dropped out (bench:fleet). A node whose kept connection was
 * closed opens a new one when it next needs one, resuming its TLS session.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';

/** Timeouts and caps of the server's connections, options of `startServer`; each has a default. */
export interface ConnectionLimits {
  /** From a request's first byte to the end of its headers (default 15 s). */
  headersTimeoutMs?: number;
  /** From a request's headers to the end of its body (default 60 s: 1 MiB at 140 kbit/s). */
  bodyTimeoutMs?: number;
  /** No byte either way for this long closes a connection (default 30 s). */
  idleTimeoutMs?: number;
  /** How long a connection is kept open between requests (default 5 s), except a node's. */
  keepAliveTimeoutMs?: number;
  /** Idle and keep-alive of an authenticated node's connection (default 20 min). */
  nodeIdleTimeoutMs?: number;
  /** Unauthenticated connections one client address may hold at once (default 64). */
  unauthenticatedPerAddress?: number;
  /** Connections open at once, all together (default: from the open-file limit, {@link connectionBudget}). */
  maxConnections?: number;
}

/** File descriptors kept back from connections: the database and its WAL, artifacts being served, logs, /proc reads. */
const RESERVED_FILES = 256;

/**
 * How many connections the server may hold given its open-file limit (`/proc/self/limits`,
 * "Max open files", soft): the limit less a reserve of 256 or a tenth, whichever is more, and
 * at least 64. Unknown or unlimited: 10,000. Pure over the file's text, so it is table-tested.
 */
export function connectionBudget(limitsText: string | undefined): number {
  const line = limitsText?.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line === undefined ? Number.NaN : Number(line.slice('Max open files'.length).trim().split(/\s+/)[0]);
  if (!Number.isInteger(soft) || soft <= 0) return 10_000;
  return Math.max(64, soft - Math.max(RESERVED_FILES, Math.ceil(soft / 10)));
}

/**
 * How far below the cap idle connections begin to make room for new ones: 2 % of it, at
 * least 1 (at 18,000, the last 360). Enough for a burst of new connections arriving between
 * two closes; small, so that agents keep their connections (and their bytes) otherwise.
 */
export function shedHeadroom(maxConnections: number): number {
  return Math.max(1, Math.ceil(maxConnections * 0.02));
}

function readLimits(): string | undefined {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined; // not Linux
  }
}

/** The limits with every default filled in. */
export type ConnectionSettings = Required<ConnectionLimits>;

/** The defaults, with the reason for each in {@link ConnectionLimits}. */
export const CONNECTION_DEFAULTS: ConnectionSettings = {
  headersTimeoutMs: 15_000,
  bodyTimeoutMs: 60_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  nodeIdleTimeoutMs: 20 * 60_000,
  unauthenticatedPerAddress: 64,
  maxConnections: connectionBudget(readLimits()),
};

/** Fills in the defaults; a bound that is not a whole number ≥ 1 is a clear error. */
export function connectionSettings(limits: ConnectionLimits = {}): ConnectionSettings {
  const settings = { ...CONNECTION_DEFAULTS };
  for (const [key, value] of Object.entries(limits) as Array<[keyof ConnectionLimits, number | undefined]>) {
    if (value === undefined) continue;
    if (!Object.hasOwn(CONNECTION_DEFAULTS, key)) throw new RangeError(`unknown connection limit "${key}"`);
    if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`connection limit ${key} must be a whole number ≥ 1, not ${value}`);
    settings[key] = value;
  }
  return settings;
}

/** What the HTTPS server is created with: Node applies the header clock itself. */
export function serverTimeoutOptions(settings: ConnectionSettings): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  return {
    headersTimeout: settings.headersTimeoutMs,
    // The body clock is ours (per route); Node's would also cut operators' long uploads.
    requestTimeout: 0,
    // How often Node looks for connections past the header clock: a quarter of it, 0.25–5 s.
    connectionsCheckingInterval: Math.min(5_000, Math.max(250, Math.floor(settings.headersTimeoutMs / 4))),
  };
}

/** The connection a request came on (TLS: the API is HTTPS only). */
function socketOf(request: FastifyRequest): TLSSocket {
  return request.raw.socket as TLSSocket;
}

/**
 * The per-connection side of the limits: the body clock of each request, the long clock of
 * nodes, and the cap on unauthenticated connections per address. Made once per server.
 */
export class ConnectionGuard {
  /** Unauthenticated connections open now, by client address. */
  private readonly unauthenticated = new Map<string, Set<Socket>>();
  /** Connections that carried an authenticated request (or a verified client certificate). */
  private readonly authenticated = new WeakSet<Socket>();
  /** Connections open now (counted from the TCP accept: the cap counts them from there too). */
  private open = 0;
  /** Kept-alive connections idle between requests, the longest idle first (a Set keeps insertion order). */
  private readonly idle = new Set<Socket>();
  /** Totals since start, for the log lines and tests. */
  readonly counts = { refusedConnections: 0, slowBodiesClosed: 0, droppedOverTotal: 0, idleShed: 0 };
  private reported = { refusedConnections: 0, slowBodiesClosed: 0, droppedOverTotal: 0, idleShed: 0 };
  private reportedAt = 0;

  /**
   * `presentsFleetCertificate`: whether a connection's client certificate is one the fleet
   * CA signed (such connections are never counted as unauthenticated). Not `authorized`
   * alone: Node reports a resumed TLS session as authorized even when no certificate was
   * presented on it.
   */
  constructor(
    readonly settings: ConnectionSettings,
    private readonly log?: Logger,
    private readonly presentsFleetCertificate: (socket: TLSSocket) => boolean = () => false,
  ) {}

  /**
   * Installs the cap on the HTTPS server; call before it listens. (Its idle and keep-alive
   * clocks are Fastify's `connectionTimeout` and `keepAliveTimeout`, app.ts.)
   */
  attach(server: Server): void {
    server.on('secureConnection', (socket: TLSSocket) => {
      socket.once('close', () => this.idle.delete(socket));
      this.admitConnection(socket);
    });
    const shedAt = this.settings.maxConnections - shedHeadroom(this.settings.maxConnections);
    server.on('connection', (socket: Socket) => {
      this.open++;
      socket.once('close', () => {
        this.open--;
      });
      if (this.open > shedAt) this.shedIdle(this.open - shedAt);
    });
    // A request makes its connection busy; its answer sent on a connection kept alive makes it idle, newest last.
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const socket = request.socket;
      this.idle.delete(socket);
      response.once('finish', () => {
        if (response.shouldKeepAlive && !socket.destroyed) this.idle.add(socket);
      });
    });
    // Node closes a connection past the total at once, before TLS, and says so with 'drop'.
    server.maxConnections = this.settings.maxConnections;
    server.on('drop', () => {
      this.counts.droppedOverTotal++;
      this.report();
    });
  }

  /**
   * The first `onRequest` hook of every route: starts the request's body clock. When the
   * body has not fully arrived by then, the connection is closed (a 408 could not be read
   * by a client that is still sending).
   */
  readonly startBodyClock = async (request: FastifyRequest): Promise<void> => {
    const raw = request.raw;
    if (raw.headers['content-length'] === undefined && raw.headers['transfer-encoding'] === undefined) return; // no body
    const socket = socketOf(request);
    const timer = setTimeout(() => {
      if (raw.complete || socket.destroyed) return;
      this.counts.slowBodiesClosed++;
      this.report();
      socket.destroy();
    }, this.settings.bodyTimeoutMs);
    timer.unref();
    bodyClocks.set(request, timer);
    // The request's 'close' comes once its body was consumed or its connection is gone.
    raw.once('close', () => clearTimeout(timer));
  };

  /**
   * After a route authenticated its caller: a node's connection gets the long idle clock
   * (its long poll, its metered keep-alive) and any authenticated connection leaves the
   * unauthenticated count. `streamedUpload`: the route streams a large body from an
   * authenticated caller, bounded by the idle clock instead of the body clock.
   */
  callerAuthenticated(request: FastifyRequest, reply: FastifyReply, kind: 'node' | 'token' | 'public', streamedUpload: boolean): void {
    if (kind === 'public') return;
    const socket = socketOf(request);
    this.markAuthenticated(socket);
    if (streamedUpload) clearTimeout(bodyClocks.get(request));
    if (kind !== 'node') return;
    const nodeIdleMs = this.settings.nodeIdleTimeoutMs;
    socket.setTimeout(nodeIdleMs);
    // Keep the connection as long after the answer, and say so: the agent's HTTP client
    // believes the server's Keep-Alive header. Node writes these two headers itself unless
    // the answer sets them; an answer that closes the connection sets its own.
    if (reply.raw.shouldKeepAlive) {
      void reply.header('connection', 'keep-alive').header('keep-alive', `timeout=${Math.floor(nodeIdleMs / 1000)}`);
      reply.raw.once('finish', () => {
        // Runs after Node set its own (short) keep-alive clock on the socket.
        if (!socket.destroyed) socket.setTimeout(nodeIdleMs);
      });
    }
  }

  /** Closes up to `count` of the connections idle the longest, to keep the total under the cap. */
  private shedIdle(count: number): void {
    let shed = 0;
    for (const socket of this.idle) {
      if (shed >= count) break;
      this.idle.delete(socket);
      socket.destroy();
      shed++;
    }
    if (shed === 0) return;
    this.counts.idleShed += shed;
    this.report();
  }

  private markAuthenticated(socket: Socket): void {
    if (this.authenticated.has(socket)) return;
    this.authenticated.add(socket);
    const address = socket.remoteAddress ?? '';
    const open = this.unauthenticated.get(address);
    open?.delete(socket);
    if (open?.size === 0) this.unauthenticated.delete(address);
  }

  /** A new TLS connection: counted against its address's cap unless a fleet certificate was verified. */
  private admitConnection(socket: TLSSocket): void {
    if (this.presentsFleetCertificate(socket)) {
      this.authenticated.add(socket);
      return;
    }
    const address = socket.remoteAddress ?? '';
    let open = this.unauthenticated.get(address);
    if (open === undefined) {
      open = new Set();
      this.unauthenticated.set(address, open);
    }
    if (open.size >= this.settings.unauthenticatedPerAddress) {
      this.counts.refusedConnections++;
      this.report(address);
      refuse(socket, this.settings.unauthenticatedPerAddress);
      return;
    }
    open.add(socket);
    const held = open;
    socket.once('close', () => {
      held.delete(socket);
      if (held.size === 0 && this.unauthenticated.get(address) === held) this.unauthenticated.delete(address);
    });
  }

  /** Logs what was refused and closed since the last line, every 10 s at most: an attack must not flood the log. */
  private report(address?: string): void {
    const now = Date.now();
    if (now - this.reportedAt < 10_000) return;
    this.reportedAt = now;
    const refused = this.counts.refusedConnections - this.reported.refusedConnections;
    const slow = this.counts.slowBodiesClosed - this.reported.slowBodiesClosed;
    const dropped = this.counts.droppedOverTotal - this.reported.droppedOverTotal;
    const shed = this.counts.idleShed - this.reported.idleShed;
    this.reported = { ...this.counts };
    if (shed > 0) {
      this.log?.info(
        { shed, total: this.counts.idleShed, open: this.open, maxConnections: this.settings.maxConnections },
        `closed ${shed} idle kept-alive connections to make room: ${this.open} open, near the maximum of ${this.settings.maxConnections} (--max-connections; raise LimitNOFILE to keep more)`,
      );
    }
    if (dropped > 0) {
      this.log?.warn(
        { dropped, total: this.counts.droppedOverTotal, maxConnections: this.settings.maxConnections },
        `closed ${dropped} new connections: the server holds its maximum of ${this.settings.maxConnections} (--max-connections; by default what the open-file limit allows, raise LimitNOFILE to hold more)`,
      );
    }
    if (refused > 0) {
      this.log?.warn(
        { refused, total: this.counts.refusedConnections, address, cap: this.settings.unauthenticatedPerAddress },
        `refused ${refused} unauthenticated connections over the cap of ${this.settings.unauthenticatedPerAddress} per client address (429, closed)`,
      );
    }
    if (slow > 0) {
      this.log?.warn(
        { closed: slow, total: this.counts.slowBodiesClosed, bodyTimeoutMs: this.settings.bodyTimeoutMs },
        `closed ${slow} slow connections: a request body did not arrive within ${this.settings.bodyTimeoutMs} ms`,
      );
    }
  }
}

/** Body clocks by request, so a streamed upload can stop its own. */
const bodyClocks = new WeakMap<FastifyRequest, NodeJS.Timeout>();

/** Answers 429 on a connection over its address's cap, before reading anything from it, and closes it. */
function refuse(socket: TLSSocket, cap: number): void {
  const body = JSON.stringify(
    new EdgefleetError({
      code: 'overloaded',
      message: `this address already holds ${cap} unauthenticated connections to the server`,
      hint: 'close idle connections, or wait and retry; nodes behind one address retry by themselves after Retry-After',
    }).toBody(),
  );
  socket.pause(); // nothing this client sends is read
  socket.end(
    `HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: 5\r\nconnection: close\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  socket.setTimeout(5_000, () => socket.destroy());
}
