import { describe, expect, it } from 'vitest';
import {
  decideSitePorts,
  endpointFailureMessage,
  endpointFailureReason,
  endpointRetryDelayMs,
  parseInferenceListen,
  type SitePortClaim,
  siteHostFor,
} from '../../src/workloads/site-ports.js';

interface ClaimCase {
  name: string;
  claims: SitePortClaim[];
  held: [number, string][];
  granted: string[];
  refused: [string, string][];
}

const cases: ClaimCase[] = [
  { name: 'one claim on a free port is granted', claims: [{ deployment: 'detect', port: 8080 }], held: [], granted: ['detect'], refused: [] },
  {
    name: 'two new claims on one port: the first by name wins',
    claims: [
      { deployment: 'zeta', port: 8080 },
      { deployment: 'alpha', port: 8080 },
    ],
    held: [],
    granted: ['alpha'],
    refused: [['zeta', 'alpha']],
  },
  {
    name: 'the holder keeps its port against a claimant earlier by name',
    claims: [
      { deployment: 'alpha', port: 8080 },
      { deployment: 'zeta', port: 8080 },
    ],
    held: [[8080, 'zeta']],
    granted: ['zeta'],
    refused: [['alpha', 'zeta']],
  },
  {
    name: 'a holder that no longer claims the port frees it',
    claims: [{ deployment: 'alpha', port: 8080 }],
    held: [[8080, 'gone']],
    granted: ['alpha'],
    refused: [],
  },
  {
    name: 'a holder that moved to another port frees its old one; both are granted',
    claims: [
      { deployment: 'alpha', port: 8080 },
      { deployment: 'zeta', port: 9090 },
    ],
    held: [[8080, 'zeta']],
    granted: ['alpha', 'zeta'],
    refused: [],
  },
  {
    name: 'three claimants: the holder wins, both others name it',
    claims: [
      { deployment: 'a', port: 7000 },
      { deployment: 'b', port: 7000 },
      { deployment: 'c', port: 7000 },
    ],
    held: [[7000, 'b']],
    granted: ['b'],
    refused: [
      ['a', 'b'],
      ['c', 'b'],
    ],
  },
];

describe('decideSitePorts', () => {
  for (const c of cases) {
    it(c.name, () => {
      const verdicts = decideSitePorts(c.claims, new Map(c.held));
      expect(
        [...verdicts]
          .filter(([, v]) => v.granted)
          .map(([d]) => d)
          .sort(),
      ).toEqual(c.granted);
      expect([...verdicts].flatMap(([d, v]) => (v.granted ? [] : [[d, v.holder]])).sort((x, y) => String(x[0]).localeCompare(String(y[0])))).toEqual(c.refused);
    });
  }
});

describe('listen failures', () => {
  it('tells a taken port from an address the node cannot bind', () => {
    expect(endpointFailureReason('EADDRINUSE')).toBe('port-conflict');
    expect(endpointFailureReason('EADDRNOTAVAIL')).toBe('endpoint-unavailable');
    expect(endpointFailureReason('EACCES')).toBe('endpoint-unavailable');
    expect(endpointFailureMessage('EADDRNOTAVAIL', '10.254.0.9', 8080, 'x')).toMatch(/10\.254\.0\.9:8080.*--inference-listen/);
    expect(endpointFailureMessage('EADDRINUSE', '0.0.0.0', 8080, 'x')).toMatch(/port 8080 .* in use by another program/);
  });

  it('backs off from about 1 s to 30 s, jittered, never to zero', () => {
    expect(endpointRetryDelayMs(1, () => 0)).toBe(500);
    expect(endpointRetryDelayMs(1, () => 0.999)).toBeLessThanOrEqual(1_000);
    expect(endpointRetryDelayMs(3, () => 0.999)).toBeLessThanOrEqual(4_000);
    expect(endpointRetryDelayMs(3, () => 0)).toBe(2_000);
    expect(endpointRetryDelayMs(40, () => 0.999)).toBeLessThanOrEqual(30_000);
    expect(endpointRetryDelayMs(40, () => 0)).toBe(15_000);
  });

  it('draws exactly what the hand-written equal jitter drew before protocol had it', () => {
    const before = (count: number, draw: number) => {
      const attempt = Math.max(0, count - 1);
      const ceiling = Math.min(30_000, 1_000 * 2 ** Math.min(attempt, 30));
      return Math.round(ceiling / 2 + Math.floor(draw * ceiling) / 2);
    };
    for (let count = 0; count <= 40; count++)
      for (const draw of [0, 0.1, 0.333, 0.5, 0.77, 0.999]) expect(endpointRetryDelayMs(count, () => draw)).toBe(before(count, draw));
  });
});

describe('the inference address', () => {
  it('takes IPv4 and IPv6 addresses, refuses anything else with a hint', () => {
    expect(parseInferenceListen('0.0.0.0')).toBe('0.0.0.0');
    expect(parseInferenceListen('[::]')).toBe('::');
    expect(parseInferenceListen(' 127.0.0.2 ')).toBe('127.0.0.2');
    expect(() => parseInferenceListen('0.0.0.0:8080')).toThrow(/not an IP address/);
    expect(() => parseInferenceListen('node.local')).toThrow(/not an IP address/);
  });

  it('reports the listen address itself, or for all interfaces the node’s own address', () => {
    const ifs = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      eth0: [
        { address: 'fe80::1', family: 'IPv6', internal: false },
        { address: '192.168.1.20', family: 'IPv4', internal: false },
      ],
    };
    expect(siteHostFor('127.0.0.2', ifs, 'pi-1')).toBe('127.0.0.2');
    expect(siteHostFor('fd00::5', ifs, 'pi-1')).toBe('[fd00::5]');
    expect(siteHostFor('0.0.0.0', ifs, 'pi-1')).toBe('192.168.1.20');
    expect(siteHostFor('0.0.0.0', { lo: ifs.lo }, 'pi-1')).toBe('pi-1');
  });
});
