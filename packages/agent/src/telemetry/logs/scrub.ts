import { type EdgefleetError, errors, scrubSecrets } from '@edgefleet/protocol';

/**
 * Scrubbing of log lines on the node, before anything leaves it. Every line a workload or
 * the agent writes goes through one `Scrubber`: configured field drops (JSON lines),
 * configured regexes, then the built-in rules below, each of which replaces what it finds
 * with a marker (`[email]`, `[ipv4]`, `[jwt]`, …) so a reader still sees that something was
 * there and what kind of thing it was.
 *
 * Built-in rules, in the order they run: first the secrets of `scrubSecrets`
 * (@edgefleet/protocol, log-scrub.ts: private keys, edgefleet/GitHub/Slack/cloud tokens, JWTs,
 * Authorization and Cookie headers, URL passwords, secret-named keys; the server runs the same
 * rules again), before the address rules (a bootstrap token holds `::`, which the IPv6 rule
 * would otherwise claim). A PEM printed over several lines is handled by the collector, which
 * hides the body lines after a BEGIN line. Then the node's own privacy rules:
 * - `[email]` e-mail addresses.
 * - `[ipv6]` IPv6 addresses (full, compressed, with an embedded IPv4 or a zone); `::` and
 *   `::1` are kept. Times (`12:30:45`) and MACs (`b8:27:eb:12:34:56`) are not addresses.
 * - `[ipv4]` dotted quads of octets 0–255; `0.0.0.0` and 127.0.0.0/8 are kept (they say
 *   nothing about a site). Versions (`1.2.3`, `v1.2.3.4`) and dates (`2024.01.15`) are not addresses.
 *
 * Linear time: every built-in pattern either has bounded repetition or can only start at the
 * beginning of a token (a lookbehind), and the PEM rule is a scan, so a 100 kB line of near
 * misses costs a few milliseconds, not minutes. Configured regexes are the operator's
 * responsibility; they are checked to compile and not to match the empty string.
 */

/** Turns a raw log line into the line that may leave the node. */
export type Scrubber = (line: string) => string;

/** An operator's extra rule: every match of `pattern` becomes `replacement` (default `[<name>]`; `$1` etc. work). */
interface ScrubRuleConfig {
  name: string;
  pattern: string;
  replacement?: string;
}

/** Scrubbing configuration from the agent config. */
export interface ScrubConfig {
  rules?: ScrubRuleConfig[];
  /**
   * Keys removed from JSON object lines wherever they appear: a plain key (`email`) at any
   * depth, a dotted path (`user.address`) wherever that path starts, or a key that literally
   * contains the dots.
   */
  dropFields?: string[];
}

interface Rule {
  name: string;
  /** Cheap test that says the rule cannot match, so most lines skip most regexes. */
  mayMatch: (line: string) => boolean;
  apply: (line: string) => string;
}

// --- private keys (blocks over several lines; one-line blocks: scrubSecrets) ----------------------

/** Whether the line opens a PEM private-key block that continues on the next lines. */
export function opensPrivateKeyBlock(line: string): boolean {
  return /-----BEGIN (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----\s*$/.test(line) && !/-----END [A-Z0-9 ]{0,100}PRIVATE KEY/.test(line);
}

/** Inside an open block: is this line part of it (base64 or a PEM header), its END line, or something else? */
export function privateKeyBlockLine(line: string): 'body' | 'end' | 'outside' {
  if (/-----END (?:[A-Z0-9]{1,20} ){0,4}PRIVATE KEY(?: BLOCK)?-----/.test(line)) return 'end';
  const t = line.trim();
  if (t === '' || /^[A-Za-z0-9+/=]{1,100}$/.test(t) || /^(?:Proc-Type|DEK-Info|Comment|Version): /.test(t)) return 'body';
  return 'outside';
}

// --- addresses ------------------------------------------------------------------------------

const EMAIL = /[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.){1,8}[A-Za-z]{2,24}(?![A-Za-z0-9-])/g;
const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(String.raw`(?<![0-9A-Za-z_.])(?:${OCTET}\.){3}${OCTET}(?![0-9A-Za-z_]|\.\d)`, 'g');
const IPV4_EXACT = new RegExp(String.raw`^(?:${OCTET}\.){3}${OCTET}$`);
/** Anything shaped like an IPv6 address; `isIpv6` then checks the group count and `::` rules. */
const IPV6_CANDIDATE =
  /(?<![0-9A-Za-z_.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}(?![0-9A-Za-z_]|\.\d)|[0-9A-Fa-f]{0,4}(?:%[0-9A-Za-z_.-]{1,32}(?![0-9A-Za-z_.-])|(?![0-9A-Za-z_:]|\.\d)))/g;
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/;

function keptIpv4(address: string): boolean {
  return address === '0.0.0.0' || address.startsWith('127.');
}

function isIpv6(candidate: string): boolean {
  const zone = candidate.indexOf('%');
  let s = zone >= 0 ? candidate.slice(0, zone) : candidate;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    if (!IPV4_EXACT.test(s.slice(lastColon + 1))) return false;
    s = `${s.slice(0, lastColon + 1)}0:0`; // the IPv4 tail stands for two groups
  }
  const gap = s.indexOf('::');
  if (gap < 0) {
    const groups = s.split(':');
    return groups.length === 8 && groups.every((g) => HEX_GROUP.test(g));
  }
  if (s.indexOf('::', gap + 1) >= 0 || s.includes(':::')) return false;
  const left = s.slice(0, gap);
  const right = s.slice(gap + 2);
  const groups = [...(left === '' ? [] : left.split(':')), ...(right === '' ? [] : right.split(':'))];
  return groups.length <= 7 && groups.every((g) => HEX_GROUP.test(g));
}

function scrubIpv6(line: string): string {
  return line.replace(IPV6_CANDIDATE, (candidate) => {
    const address = candidate.split('%')[0] as string;
    if (address === '::' || address === '::1' || !isIpv6(candidate)) return candidate;
    return '[ipv6]';
  });
}

const BUILTIN_RULES: readonly Rule[] = [
  // Secrets first (protocol/src/log-scrub.ts): a bootstrap token holds `::`, which the IPv6 rule would otherwise claim.
  { name: 'secrets', mayMatch: () => true, apply: scrubSecrets },
  { name: 'email', mayMatch: (l) => l.includes('@'), apply: (l) => l.replace(EMAIL, '[email]') },
  { name: 'ipv6', mayMatch: (l) => l.includes(':'), apply: scrubIpv6 },
  { name: 'ipv4', mayMatch: (l) => l.includes('.'), apply: (l) => l.replace(IPV4, (a) => (keptIpv4(a) ? a : '[ipv4]')) },
];

// --- configuration --------------------------------------------------------------------------

function configError(message: string, hint: string): EdgefleetError {
  return errors.config(message, hint, { field: 'logs.scrub' });
}

function compileRules(rules: ScrubRuleConfig[]): { re: RegExp; replacement: string }[] {
  return rules.map((rule, i) => {
    if (typeof rule?.name !== 'string' || rule.name.trim() === '') {
      throw configError(
        `log scrub rule #${i + 1} has no name`,
        'give every scrub rule a name; it is the default marker, e.g. name "order-id" writes [order-id]',
      );
    }
    if (typeof rule.pattern !== 'string' || rule.pattern === '') {
      throw configError(`log scrub rule "${rule.name}" has no pattern`, 'set pattern to a JavaScript regular expression, e.g. "ORD-[0-9]{8}"');
    }
    let re: RegExp;
    try {
      re = new RegExp(rule.pattern, 'g');
    } catch (err) {
      throw configError(
        `log scrub rule "${rule.name}" has an invalid regular expression ${JSON.stringify(rule.pattern)}: ${(err as Error).message}`,
        'fix the pattern (JavaScript regular expression syntax; escape backslashes in JSON/YAML)',
      );
    }
    if (new RegExp(rule.pattern).test('')) {
      throw configError(
        `log scrub rule "${rule.name}" matches the empty string (${JSON.stringify(rule.pattern)}), so it would write its marker between every character`,
        'make the pattern require at least one character, e.g. use + instead of *',
      );
    }
    return { re, replacement: rule.replacement ?? `[${rule.name}]` };
  });
}

const MAX_JSON_DEPTH = 64;

/** Builds the field dropper for JSON object lines, or undefined when nothing is to be dropped. */
function compileDropFields(fields: string[]): ((line: string) => string) | undefined {
  const paths: string[][] = [];
  for (const f of fields) {
    if (typeof f !== 'string' || f.trim() === '' || f.split('.').some((k) => k === '')) {
      throw configError(`log field drop ${JSON.stringify(f)} is not a key or a dotted path`, 'use a key such as "email" or a path such as "user.address"');
    }
    paths.push(f.split('.'));
    if (f.includes('.')) paths.push([f]);
  }
  if (paths.length === 0) return undefined;

  const removePath = (obj: Record<string, unknown>, path: string[], i: number): boolean => {
    const key = path[i] as string;
    if (!Object.hasOwn(obj, key)) return false;
    if (i === path.length - 1) {
      delete obj[key];
      return true;
    }
    const child = obj[key];
    return typeof child === 'object' && child !== null && !Array.isArray(child) && removePath(child as Record<string, unknown>, path, i + 1);
  };
  const dropIn = (node: unknown, depth: number): boolean => {
    if (depth > MAX_JSON_DEPTH || typeof node !== 'object' || node === null) return false;
    let changed = false;
    if (Array.isArray(node)) {
      for (const item of node) changed = dropIn(item, depth + 1) || changed;
      return changed;
    }
    const obj = node as Record<string, unknown>;
    for (const path of paths) changed = removePath(obj, path, 0) || changed;
    for (const value of Object.values(obj)) changed = dropIn(value, depth + 1) || changed;
    return changed;
  };
  return (line) => {
    const t = line.trim();
    if (!t.startsWith('{') || !t.endsWith('}')) return line;
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch {
      return line;
    }
    return dropIn(parsed, 0) ? JSON.stringify(parsed) : line;
  };
}

/**
 * Builds the scrubber for a configuration. Throws a `config` error naming the rule when a
 * configured regex does not compile or matches the empty string, so a bad config stops the
 * agent at start-up instead of leaking or mangling lines later. Order: field drops, the
 * configured rules (so they see the text before a built-in rewrites it), the built-ins.
 */
export function createScrubber(config: ScrubConfig = {}): Scrubber {
  const custom = compileRules(config.rules ?? []);
  const dropFields = compileDropFields(config.dropFields ?? []);
  return (line) => {
    let out = dropFields === undefined ? line : dropFields(line);
    for (const rule of custom) out = out.replace(rule.re, rule.replacement);
    for (const rule of BUILTIN_RULES) if (rule.mayMatch(out)) out = rule.apply(out);
    return out;
  };
}
