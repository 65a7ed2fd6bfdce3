/**
 * The few DER encodings a PKCS#10 request needs (X.690), so the agent makes its CSR with
 * `node:crypto` alone: an ASN.1 library stays megabytes in an idle agent's memory after it
 * has been used once. Encoding only; the agent never parses DER.
 */

/** One DER element: tag, definite length (short or long form), contents. */
export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  let length: Buffer;
  if (n < 0x80) {
    length = Buffer.from([n]);
  } else {
    const bytes: number[] = [];
    for (let rest = n; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
    length = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), length, body]);
}

/** SEQUENCE of already encoded elements. */
export const sequence = (...items: Uint8Array[]): Buffer => tlv(0x30, ...items);

/** SET of already encoded elements; callers pass them in DER order (here: one element). */
export const set = (...items: Uint8Array[]): Buffer => tlv(0x31, ...items);

/** A small non-negative INTEGER (versions). */
export function smallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0x7f) throw new RangeError(`smallInteger: ${value} is not in 0..127`);
  return tlv(0x02, Buffer.from([value]));
}

/** OBJECT IDENTIFIER from dotted form, e.g. `2.5.4.3`. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((a) => !Number.isSafeInteger(a) || a < 0))
    throw new RangeError(`oid: "${dotted}" is not an object identifier`);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    // Base 128, most significant group first, high bit set on all but the last.
    const groups = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v % 128) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/** PrintableString: what X.509 names use for plain ASCII such as `edgefleet-node`. */
export function printableString(text: string): Buffer {
  if (!PRINTABLE.test(text)) throw new RangeError(`printableString: "${text}" has characters outside PrintableString`);
  return tlv(0x13, Buffer.from(text, 'ascii'));
}

/** BIT STRING of whole bytes (no unused bits). */
export const bitString = (bytes: Uint8Array): Buffer => tlv(0x03, Buffer.from([0]), bytes);

/** Constructed context-specific tag `[n]`, e.g. the `[0]` attributes of a CSR. */
export const contextTag = (n: number, ...items: Uint8Array[]): Buffer => tlv(0xa0 | n, ...items);

/** PEM armour, 64 characters a line (RFC 7468). */
export function pem(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
