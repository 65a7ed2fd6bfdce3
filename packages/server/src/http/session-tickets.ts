/**
 * TLS session tickets that every replica of a fleet can read, so an agent's next connection
 * resumes its session on whichever replica the load balancer picks.
 *
 * Why: agents resume their TLS session when a connection must be new (a kept connection was
 * closed idle, or made room near the connection cap, or its replica went away): a resumed
 * handshake costs the node a few hundred bytes instead of the server's certificate chain and
 * its own, and costs the server no signature or chain check. Node gives each server process
 * random ticket keys and a session context made from its command line, so behind a TCP load
 * balancer a session made with one replica resumed only when the next connection happened to
 * land on the same one (one in three with three replicas, round robin), after a restart on
 * none, and when a replica dies its agents all made full handshakes with the others at once.
 *
 * How: the ticket keys are derived (HKDF-SHA256) from the fleet CA's private key, which every
 * replica holds (from its data dir, or unsealed from PostgreSQL with the cluster secret), and
 * from the current twelve-hour window; each server switches to the next window's keys when it
 * starts. A session made in one window resumes on every replica within it; across a switch
 * the agent makes one full handshake. A server of another fleet (another CA) derives other
 * keys, so a ticket from one fleet is worth nothing at another. Whoever has the CA key can
 * read tickets, but the CA key already lets its holder issue any node's certificate; with
 * TLS 1.3 (every agent) a resumed session still makes its traffic keys with a fresh ECDHE.
 */
import { createPrivateKey, hkdfSync } from 'node:crypto';
import type { Server } from 'node:tls';

/** How long one set of ticket keys is used: a session resumes within it, on any replica. */
export const TICKET_KEY_WINDOW_MS = 12 * 3_600_000;

/**
 * The session context every replica gives OpenSSL (Node's default is a hash of the process's
 * command line, which differs between replicas; a session resumes only in the same context).
 */
export const SESSION_ID_CONTEXT = 'edgefleet-api-v1';

/** The 48 bytes of ticket keys (name, AES and HMAC keys) of window `window`, from the CA key. */
export function sessionTicketKeys(caKeyPem: string, window: number): Buffer {
  // From the key itself (its PKCS#8 DER), not the PEM's text: the same key in another encoding gives the same keys.
  const key = createPrivateKey(caKeyPem).export({ format: 'der', type: 'pkcs8' });
  return Buffer.from(hkdfSync('sha256', key, 'edgefleet', `tls session ticket keys, window ${window}`, 48));
}

/** The window a time falls in. */
export function ticketWindowOf(at: number): number {
  return Math.floor(at / TICKET_KEY_WINDOW_MS);
}

/**
 * Keeps `server` on the current window's ticket keys: sets them now and again at the start of
 * every window, by `clock`. Returns the function that stops it (the timer never holds the
 * process open).
 */
export function rotateSessionTicketKeys(server: Pick<Server, 'setTicketKeys'>, caKeyPem: string, clock: () => number): () => void {
  let timer: NodeJS.Timeout | undefined;
  const apply = (): void => {
    const now = clock();
    server.setTicketKeys(sessionTicketKeys(caKeyPem, ticketWindowOf(now)));
    // At least a second: an injected clock may stand still.
    const untilNext = Math.max(1_000, (ticketWindowOf(now) + 1) * TICKET_KEY_WINDOW_MS - now);
    timer = setTimeout(apply, Math.min(untilNext, TICKET_KEY_WINDOW_MS));
    timer.unref();
  };
  apply();
  return () => clearTimeout(timer);
}
