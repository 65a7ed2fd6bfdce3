import { scrubSecrets } from '@edgefleet/protocol';
import { type DestinationStream, type Logger, pino } from 'pino';

/**
 * The server's logger: JSON lines, each scrubbed of the secrets `scrubSecrets` recognises
 * (tokens, keys, Authorization and Cookie headers, PEM private keys) just before it is
 * written, whatever field or error message they hid in. Best effort, a safety net: the
 * server's code never logs headers, bodies or tokens in the first place (http/app.ts).
 */
export function createServerLogger(level = process.env.EDGEFLEET_LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options = { level, base: { component: 'server' }, hooks: { streamWrite: scrubSecrets } };
  return destination === undefined ? pino(options) : pino(options, destination);
}
