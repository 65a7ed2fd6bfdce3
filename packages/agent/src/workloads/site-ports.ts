import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { backoffDelay, errors } from '@edgefleet/protocol';

/**
 * Site ports: the ports on the node's inference address that deployments declare with
 * `spec.endpoint`. One port serves one deployment. Who gets a port is decided here, pure,
 * from the desired workloads and the table of who holds which port (kept in workloads.json,
 * so a restarted agent gives every port to the deployment that had it).
 */

/** A deployment's claim on a site port (from its desired workload). */
export interface SitePortClaim {
  deployment: string;
  port: number;
}

/** The outcome of one claim: granted, or refused because another deployment has the port. */
export type SitePortVerdict = { granted: true } | { granted: false; holder: string };

/**
 * Decides every claim: a deployment that holds a port keeps it while it still claims it;
 * among new claims on a free port, the first deployment by name wins. Every other claimant
 * is refused (`port-conflict`) and names the winner. A held port whose holder no longer
 * claims it is free again.
 */
export function decideSitePorts(claims: readonly SitePortClaim[], held: ReadonlyMap<number, string>): Map<string, SitePortVerdict> {
  const byPort = new Map<number, string[]>();
  for (const c of claims) byPort.set(c.port, [...(byPort.get(c.port) ?? []), c.deployment]);
  const verdicts = new Map<string, SitePortVerdict>();
  for (const [port, claimants] of byPort) {
    const holder = held.get(port);
    const winner = holder !== undefined && claimants.includes(holder) ? holder : [...claimants].sort(byName)[0];
    for (const d of claimants) verdicts.set(d, d === winner ? { granted: true } : { granted: false, holder: winner as string });
  }
  return verdicts;
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Why the front door could not listen on its site port: a port taken, or an address this node cannot bind. */
export interface EndpointFailure {
  reason: 'port-conflict' | 'endpoint-unavailable';
  message: string;
  /** The port the attempt was for (a changed port is tried at once). */
  port: number;
  retryAt: number;
  /** Consecutive failed attempts (the backoff grows with it). */
  count: number;
}

/** The status reason for a failed listen, from the bind error's code. */
export function endpointFailureReason(code: string | undefined): EndpointFailure['reason'] {
  return code === 'EADDRINUSE' ? 'port-conflict' : 'endpoint-unavailable';
}

/** The message of a failed listen: what failed, and what to do about it. */
export function endpointFailureMessage(code: string | undefined, host: string, port: number, detail: string): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (code === 'EADDRINUSE')
    return `port ${port} on ${where} is in use by another program on this node; stop it or give the deployment another spec.endpoint.port`;
  if (code === 'EADDRNOTAVAIL')
    return `cannot listen on ${where}: the address is not one of this node's (check the agent's --inference-listen / workloads.inferenceListen)`;
  if (code === 'EACCES') return `cannot listen on ${where}: ports below 1024 need privileges the agent does not have (use a port ≥ 1024)`;
  return `cannot listen on ${where}: ${detail}`;
}

/** Wait before the next listen attempt: about 1 s, doubling up to 30 s, jittered (protocol's backoff). */
export function endpointRetryDelayMs(count: number, random: () => number = Math.random): number {
  // Half fixed, half drawn: a zero draw must not turn into a tight retry loop.
  return backoffDelay(count - 1, { baseMs: 1_000, capMs: 30_000, random, jitter: 'equal' });
}

/**
 * The host clients at the site use for an endpoint: the listen address itself, or for the
 * unspecified address (all interfaces) the node's first non-internal IPv4 address (then
 * IPv6), else its hostname.
 */
export function siteHostFor(
  listen: string,
  interfaces: Record<string, readonly { address: string; family: string | number; internal: boolean }[] | undefined>,
  hostname: string,
): string {
  if (listen !== '0.0.0.0' && listen !== '::') return listen.includes(':') ? `[${listen}]` : listen;
  const all = Object.values(interfaces).flatMap((list) => list ?? []);
  const external = all.filter((a) => !a.internal);
  const v4 = external.find((a) => a.family === 'IPv4' || a.family === 4);
  if (v4 !== undefined) return v4.address;
  const v6 = external.find((a) => (a.family === 'IPv6' || a.family === 6) && !a.address.startsWith('fe80'));
  if (v6 !== undefined && listen === '::') return `[${v6.address}]`;
  return hostname;
}

/** The default `--inference-listen`: every interface of the node. */
export const DEFAULT_INFERENCE_LISTEN = '0.0.0.0';

/**
 * Checks an `--inference-listen` / `workloads.inferenceListen` value: an IPv4 or IPv6 address
 * (no port: each deployment's `spec.endpoint.port` is the port). A malformed value stops the
 * agent at start; an address the node does not have is reported per deployment
 * (`endpoint-unavailable`) and retried, since it may come up later (DHCP, a VLAN).
 */
export function parseInferenceListen(text: string, what = '--inference-listen'): string {
  const address = text.trim().replace(/^\[(.*)\]$/, '$1');
  if (isIP(address) === 0)
    throw errors.config(
      `${what} "${text}" is not an IP address`,
      'give the address site clients reach this node on, e.g. 0.0.0.0 (all interfaces, the default) or 192.168.1.20; the port comes from spec.endpoint.port',
    );
  return address;
}

/** The inference address as the supervisor needs it: where to listen, and the host the site uses. */
export function inferenceAddress(listen: string): { listen: string; host: string } {
  return { listen, host: siteHostFor(listen, networkInterfaces(), hostname()) };
}
