/** Loopback ports for the services tests and benches start (servers, registries, databases). */
import { createServer, type Server } from 'node:net';

/** A free loopback port, bound and released at once: the caller binds it soon after. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A TCP port free on every one of `addresses` right now (bound on each, then released). */
export async function freePortOn(addresses: readonly string[]): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = createServer();
    await new Promise<void>((done, fail) => first.once('error', fail).listen(0, addresses[0], () => done()));
    const { port } = first.address() as { port: number };
    const others = await Promise.all(
      addresses.slice(1).map(
        (a) =>
          new Promise<Server | undefined>((done) => {
            const s = createServer();
            s.once('error', () => done(undefined)).listen(port, a, () => done(s));
          }),
      ),
    );
    await Promise.all([first, ...others].map((s) => (s === undefined ? undefined : new Promise<void>((done) => s.close(() => done())))));
    if (others.every((s) => s !== undefined)) return port;
  }
  throw new Error(`no port free on all of ${addresses.join(', ')} in 20 attempts`);
}
