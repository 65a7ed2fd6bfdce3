import { describe, expect, it } from 'vitest';
import { bindingMismatch } from '../../src/nodes/enroll.js';

const facts = (serial: string | null, hostname: string | null) => ({ hostname, board: { serial } });

describe('bindingMismatch', () => {
  it.each([
    ['an unbound token, any board', { boundSerial: null, boundHostname: null }, facts('05a350ebd1b50841', 'cam-1'), undefined],
    ['its own serial (case aside)', { boundSerial: '05a350ebd1b50841', boundHostname: null }, facts('05A350EBD1B50841', 'x'), undefined],
    [
      'another serial',
      { boundSerial: '05a350ebd1b50841', boundHostname: null },
      facts('7c2a91d04e8b3f16', 'cam-1'),
      { field: 'serial', expected: '05a350ebd1b50841', reported: '7c2a91d04e8b3f16' },
    ],
    [
      'no serial at all',
      { boundSerial: '05a350ebd1b50841', boundHostname: null },
      facts(null, 'cam-1'),
      { field: 'serial', expected: '05a350ebd1b50841', reported: null },
    ],
    ['its own hostname, or its fully qualified name', { boundSerial: null, boundHostname: 'cam-1' }, facts(null, 'cam-1.store12.example'), undefined],
    ['another hostname', { boundSerial: null, boundHostname: 'cam-1' }, facts(null, 'cam-10'), { field: 'hostname', expected: 'cam-1', reported: 'cam-10' }],
    [
      'both bound, the serial right and the hostname wrong',
      { boundSerial: 'abc', boundHostname: 'cam-1' },
      facts('abc', 'cam-2'),
      { field: 'hostname', expected: 'cam-1', reported: 'cam-2' },
    ],
  ])('%s', (_what, token, f, expected) => {
    expect(bindingMismatch(token, f)).toEqual(expected);
  });
});
