import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of a test service (the registry), for what a test or
 * bench must see or break on the wire: it counts the bytes it relays, can throttle or hold
 * the download direction (a link that stalls until the test says so, whatever the machine's
 * speed), and can cut every connection (a link that drops mid-pull). TLS
 * passes through untouched, so the registry's certificate (for 127.0.0.1) still matches.
 */
export interface TcpProxy {
  /** `127.0.0.1:PORT`: use it as the registry host (`https://127.0.0.1:PORT`). */
  host: string;
  port: number;
  /** Bytes relayed from the service to clients since start or the last {@link resetCounters}. */
  readonly bytesDown: number;
  /** Bytes relayed from clients to the service. */
  readonly bytesUp: number;
  resetCounters(): void;
  /** Limits the download direction to about this many bytes per second; undefined: no limit. */
  throttle(bytesPerSecond: number | undefined): void;
  /**
   * Holds the download direction of every connection, open or new, once {@link bytesDown}
   * reaches `bytes` (0: at once): nothing more reaches a client until {@link resume}.
   */
  pauseAt(bytes: number): void;
  /** Whether the download direction is held now. */
  readonly paused: boolean;
  /** Lets held downloads go on. */
  resume(): void;
  /** Destroys every open connection (new ones are still accepted). */
  cutAll(): void;
  stop(): Promise<void>;
}

/** Starts a relay to `target` (`host:port`). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const [targetHost, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  let bytesDown = 0;
  let bytesUp = 0;
  let rate: number | undefined;
  /** Where the relay holds downloads (bytes down), when it is not holding them yet. */
  let holdAt: number | undefined;
  let paused = false;
  /** Downloads waiting for {@link TcpProxy.resume}. */
  let held: Array<() => void> = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, targetHost);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.on('data', (chunk: Buffer) => {
      bytesUp += chunk.length;
      upstream.write(chunk);
    });
    /** Reads on from the service, unless the relay holds downloads now. */
    const goOn = (): void => {
      if (paused) held.push(goOn);
      else upstream.resume();
    };
    upstream.on('data', (chunk: Buffer) => {
      upstream.pause();
      const send = (): void => {
        bytesDown += chunk.length;
        const more = client.write(chunk);
        if (holdAt !== undefined && bytesDown >= holdAt) {
          holdAt = undefined;
          paused = true;
        }
        if (rate !== undefined) setTimeout(goOn, Math.ceil((chunk.length / rate) * 1000));
        else if (!more) client.once('drain', goOn);
        else goOn();
      };
      if (paused) held.push(send);
      else send();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const cutAll = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  return {
    host: `127.0.0.1:${port}`,
    port,
    get bytesDown() {
      return bytesDown;
    },
    get bytesUp() {
      return bytesUp;
    },
    resetCounters() {
      bytesDown = 0;
      bytesUp = 0;
    },
    throttle(bytesPerSecond) {
      rate = bytesPerSecond;
    },
    pauseAt(bytes) {
      if (bytes <= bytesDown) paused = true;
      else holdAt = bytes;
    },
    get paused() {
      return paused;
    },
    resume() {
      paused = false;
      holdAt = undefined;
      const waiting = held;
      held = [];
      for (const go of waiting) go();
    },
    cutAll,
    stop: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
