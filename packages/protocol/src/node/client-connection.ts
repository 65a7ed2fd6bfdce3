/**
 * How the API client opens and reuses its TLS connections. What a connection costs is paid
 * a few times a minute per agent, and thousands of times a minute in the simulator, so
 * three avoidable costs are avoided:
 *
 * - Credentials given as PEM text were parsed again for every connection (key, certificate
 *   and CA: a new `SecureContext` each time). The client builds one context and reuses it.
 * - undici keeps the last TLS session per server for resumption, but only weakly: in a
 *   busy process it is garbage-collected between two heartbeats and every connection paid
 *   a full handshake. The connector holds the newest session itself, so it is resumed.
 * - A request made as soon as the previous response was read (the next long poll, the logs
 *   upload after the metrics upload) found that connection still marked busy — undici
 *   frees it a moment later — and opened another; the long poll, which outlasts the idle
 *   timeout, opened a new connection every time. The client now waits for the release
 *   (`connectionReleased`) before it hands a response over.
 *
 * All of it belongs to one client, whose credentials never change: a renewed certificate
 * comes with a new client (the agent's `connect()`), so no connection ever presents, or
 * resumes a session of, a certificate the client was not made with.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createSecureContext, type SecureContext } from 'node:tls';
import { buildConnector } from 'undici';

/** The PEMs a client trusts and presents. */
export interface TlsCredentials {
  ca?: string;
  cert?: string;
  key?: string;
}

/** What to pass as undici's TLS options: one context built from the PEMs. */
export function tlsOptions(pems: TlsCredentials): { secureContext: SecureContext } | TlsCredentials {
  const given: TlsCredentials = {
    ...(pems.ca === undefined ? {} : { ca: pems.ca }),
    ...(pems.cert === undefined ? {} : { cert: pems.cert }),
    ...(pems.key === undefined ? {} : { key: pems.key }),
  };
  if (Object.keys(given).length === 0) return given;
  try {
    return { secureContext: createSecureContext(given) };
  } catch {
    // Unusable PEMs are passed on as they are, so the first request fails with the
    // connection error it always did rather than the client's constructor.
    return given;
  }
}

/**
 * undici's own connector (same options, same defaults) that also keeps the newest TLS
 * session alive, so the connector's session cache still holds it at the next connection.
 */
export function resumingConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  // Held only to keep it alive: undici's cache refers to the same object weakly.
  const held: { newest?: Buffer } = {};
  const keep = (session: Buffer): void => {
    held.newest = session;
  };
  return (opts, callback) =>
    connect(opts, (...args) => {
      // A TLS 1.3 server sends its tickets after the handshake, so after this callback.
      args[1]?.on('session', keep);
      callback(...args);
    });
}

/**
 * Resolves once undici has put the connection of a response just read back in its pool
 * (it does so from a queued task), so the caller's next request can reuse it.
 */
export async function connectionReleased(): Promise<void> {
  await nextTurn();
}
