import { describe, expect, it } from 'vitest';
import { bitString, oid, printableString, sequence, smallInteger, tlv } from '../../src/identity/der.js';

const hex = (b: Buffer): string => b.toString('hex');

describe('DER encoding for the node CSR', () => {
  it('writes lengths in short form below 128 bytes and long form above', () => {
    expect(hex(tlv(0x04, Buffer.alloc(127))).slice(0, 4)).toBe('047f');
    expect(hex(tlv(0x04, Buffer.alloc(200))).slice(0, 6)).toBe('0481c8');
    expect(hex(tlv(0x04, Buffer.alloc(300))).slice(0, 8)).toBe('0482012c');
    expect(tlv(0x04, Buffer.alloc(300)).length).toBe(304);
  });

  it('encodes the object identifiers of a CSR as X.509 expects', () => {
    expect(hex(oid('2.5.4.3'))).toBe('0603550403');
    expect(hex(oid('1.2.840.10045.4.3.2'))).toBe('06082a8648ce3d040302');
    expect(() => oid('1')).toThrow(RangeError);
  });

  it('encodes the small pieces: version, name string, bit string, sequence', () => {
    expect(hex(smallInteger(0))).toBe('020100');
    expect(hex(printableString('edgefleet-node'))).toBe(`130e${Buffer.from('edgefleet-node').toString('hex')}`);
    expect(() => printableString('nœud')).toThrow(RangeError);
    expect(hex(bitString(Buffer.from([0xab])))).toBe('030200ab');
    expect(hex(sequence(smallInteger(1), smallInteger(2)))).toBe('3006020101020102');
  });
});
