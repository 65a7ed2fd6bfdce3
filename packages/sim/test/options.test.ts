import { EdgefleetError } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { parseFaultFile, parseSiteOutage } from '../src/faults.js';
import { assignHats, parseHatMix } from '../src/hardware.js';
import { parseSimFlags, type SimFlags, siteNames } from '../src/options.js';

const TOKEN = `EF1${'a'.repeat(64)}::${'b'.repeat(12)}.${'c'.repeat(43)}`;
const FILES: Record<string, string> = { token: `${TOKEN}\n`, admin: 'efa_x\n' };
const read = (path: string): string => {
  const text = FILES[path];
  if (text === undefined) throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
  return text;
};
const flags = (more: Partial<SimFlags>): SimFlags => ({ server: 'https://127.0.0.1:8443', tokenFile: 'token', nodes: '10', ...more });
const parse = (more: Partial<SimFlags>) => parseSimFlags(flags(more), read);

/** The error a parse throws: message and hint, as the command prints them. */
function refusal(fn: () => unknown): { message: string; hint: string } {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(EdgefleetError);
    return { message: (err as EdgefleetError).message, hint: (err as EdgefleetError).hint };
  }
  throw new Error('expected a refusal');
}

describe('edgefleet sim flags', () => {
  it('takes the documented defaults', () => {
    const o = parse({});
    expect(o).toMatchObject({ token: TOKEN, nodes: 10, sites: 1, seed: 42, rps: 5, profile: 'lan', intervalMs: 10_000 });
    expect(o.hatMix).toEqual({ hailo8l: 0.6, hailo8: 0.2, none: 0.2 });
    expect(o.faults).toEqual({ siteOutages: [], links: [], acceleratorFailures: [], powerCuts: [] });
    expect(o.durationMs).toBeUndefined();
  });

  it('reads every flag', () => {
    FILES['faults.yaml'] = 'powerCuts:\n  - { count: 2, within: 5m, downtime: 20s }\n';
    const o = parse({
      nodes: '300',
      sites: '6',
      hatMix: 'hailo8l=0.5, hailo10h=0.25,coral-usb=0.25',
      seed: '7',
      rps: '2.5',
      profile: 'metered',
      offlineRate: '0.1',
      siteOutage: ['site-03:10m@2m', 'site-06:30s@1h'],
      faults: 'faults.yaml',
      duration: '15m',
      interval: '30s',
      data: '/tmp/x',
      adminTokenFile: 'admin',
      enrollConcurrency: '50',
      loadSeconds: '5',
      force: true,
    });
    expect(o).toMatchObject({ nodes: 300, sites: 6, seed: 7, rps: 2.5, profile: 'metered', durationMs: 900_000, intervalMs: 30_000 });
    expect(o).toMatchObject({ dataDir: '/tmp/x', adminToken: 'efa_x', enrollConcurrency: 50, loadSeconds: 5, force: true });
    expect(o.hatMix).toEqual({ hailo8l: 0.5, hailo10h: 0.25, 'coral-usb': 0.25 });
    expect(o.faults?.offline).toEqual({ share: 0.1, meanOnlineMs: 300_000, meanOfflineMs: 60_000 });
    expect(o.faults?.siteOutages).toEqual([
      { site: 'site-03', atMs: 120_000, durationMs: 600_000 },
      { site: 'site-06', atMs: 3_600_000, durationMs: 30_000 },
    ]);
    expect(o.faults?.powerCuts).toEqual([{ count: 2, withinMs: 300_000, downtimeMs: 20_000 }]);
  });

  it('reads the image table (--images) and refuses a bad one naming the field', () => {
    FILES['images.yaml'] = 'default: {baseMb: 90}\nimages:\n  "sha256:abc": {crashProbability: 1, platforms: [linux/amd64]}\n';
    expect(parse({ images: 'images.yaml' }).images).toEqual({
      default: { baseMb: 90 },
      images: { 'sha256:abc': { crashProbability: 1, platforms: ['linux/amd64'] } },
    });
    FILES['bad-images.yaml'] = 'images:\n  x: {startSeconds: -1}\n';
    expect(refusal(() => parse({ images: 'bad-images.yaml' })).message).toBe('--images: images["x"].startSeconds: must be a number from 0 to 3600, got -1');
    FILES['not-yaml.yaml'] = 'images: [\n';
    expect(refusal(() => parse({ images: 'not-yaml.yaml' })).message).toMatch(/^--images not-yaml\.yaml: not YAML or JSON/);
    expect(refusal(() => parse({ images: 'missing.yaml' })).message).toBe('--images missing.yaml: cannot read it (ENOENT)');
  });

  it.each([
    [{ nodes: '-5' }, '--nodes must be a whole number from 1 to 100000, got "-5"'],
    [{ nodes: '0' }, '--nodes must be a whole number from 1 to 100000, got "0"'],
    [{ nodes: '2.5' }, '--nodes must be a whole number from 1 to 100000, got "2.5"'],
    [{ nodes: 'many' }, '--nodes must be a whole number from 1 to 100000, got "many"'],
    [{ sites: '0' }, '--sites must be a whole number from 1 to 100000, got "0"'],
    [{ sites: '11' }, '--sites (11) is more than --nodes (10): a site needs at least one node'],
    [{ seed: '-1' }, '--seed must be a whole number from 0 to 4294967295, got "-1"'],
    [{ rps: '-1' }, '--rps must be a number from 0 to 1000, got "-1"'],
    [{ rps: 'fast' }, '--rps must be a number from 0 to 1000, got "fast"'],
    [{ profile: 'wifi' }, '--profile must be lan or metered, got "wifi"'],
    [{ offlineRate: '1.5' }, '--offline-rate must be a number from 0 to 1, got "1.5"'],
    [{ interval: '500ms' }, '--interval must be at least 1s, got "500ms"'],
    [{ interval: 'often' }, '--interval must be a duration such as 90s, 10m or 1h, got "often"'],
    [{ duration: '0s' }, '--duration must be at least 1s, got "0s"'],
    [{ enrollConcurrency: '0' }, '--enroll-concurrency must be a whole number from 1 to 1000, got "0"'],
    [{ tokenFile: 'missing' }, '--token-file missing: cannot read it (ENOENT)'],
    [{ tokenFile: undefined }, '--token-file is required'],
    [{ adminTokenFile: 'nope' }, '--admin-token-file nope: cannot read it (ENOENT)'],
    [{ faults: 'nope.yaml' }, '--faults nope.yaml: cannot read it (ENOENT)'],
    [{ siteOutage: ['site-01'] }, '--site-outage site-01: not of the form SITE:DURATION@AT'],
    [{ siteOutage: ['site-01:soon@1m'] }, '--site-outage site-01:soon@1m: the duration and the start must be durations such as 10m or 90s'],
    [{ siteOutage: ['site-01:0s@1m'] }, '--site-outage site-01:0s@1m: the duration must be longer than 0s'],
    [{ siteOutage: ['Site 1:1m@1m'] }, '--site-outage Site 1:1m@1m: "Site 1" is not a site name'],
    [{ sites: '3', siteOutage: ['site-04:1m@1m'] }, 'the faults name "site-04", which is not a site of this simulation (it has site-01 … site-03)'],
  ] as Array<[Partial<SimFlags>, string]>)('refuses %j: %s', (more, message) => {
    expect(refusal(() => parse(more)).message).toBe(message);
  });

  it('refuses a malformed bootstrap token before anything starts', () => {
    FILES.bad = 'not-a-token';
    expect(refusal(() => parse({ tokenFile: 'bad' })).message).toBe('the bootstrap token is malformed');
  });

  it('names sites with two digits at least, three from a hundred sites', () => {
    expect(siteNames(3)).toEqual(['site-01', 'site-02', 'site-03']);
    expect(siteNames(100)[99]).toBe('site-100');
    expect(siteNames(100)[0]).toBe('site-001');
  });
});

describe('--hat-mix', () => {
  it('parses shares that add up to 1, within 0.001', () => {
    expect(parseHatMix('hailo8l=0.6,hailo8=0.2,none=0.2')).toEqual({ hailo8l: 0.6, hailo8: 0.2, none: 0.2 });
    expect(parseHatMix('hailo8l=0.3333,hailo8=0.3333,coral-pcie=0.3333')).toMatchObject({ 'coral-pcie': 0.3333 });
    expect(parseHatMix('none=1')).toEqual({ none: 1 });
  });

  it.each([
    ['', '--hat-mix: is empty'],
    ['hailo8l', '--hat-mix: "hailo8l" is not KIND=SHARE'],
    ['hailo8l=0.6,hailo8=0.2', '--hat-mix: the shares add up to 0.8, not 1'],
    ['hailo8l=0.9,none=0.2', '--hat-mix: the shares add up to 1.1, not 1'],
    ['tpu=1', '--hat-mix: unknown kind "tpu"'],
    ['hailo8l=0.5,hailo8l=0.5', '--hat-mix: "hailo8l" is given twice'],
    ['hailo8l=-0.5,none=1.5', '--hat-mix: the share of hailo8l must be a number from 0 to 1, got "-0.5"'],
    ['hailo8l=half,none=0.5', '--hat-mix: the share of hailo8l must be a number from 0 to 1, got "half"'],
  ])('refuses "%s": %s', (text, message) => {
    expect(refusal(() => parseHatMix(text)).message).toBe(message);
  });

  it('gives exact counts by largest remainder, shuffled by the seed', () => {
    let s = 1;
    const random = (): number => {
      s = (s * 16807) % 2147483647;
      return s / 2147483647;
    };
    const kinds = assignHats({ hailo8l: 0.6, hailo8: 0.2, none: 0.2 }, 21, random);
    const count = (k: string): number => kinds.filter((x) => x === k).length;
    expect(kinds).toHaveLength(21);
    expect([count('hailo8l'), count('hailo8'), count('none')]).toEqual([13, 4, 4]);
    // Shuffled: not all of one kind first.
    expect(kinds.slice(0, 13).every((k) => k === 'hailo8l')).toBe(false);
  });
});

describe('--site-outage', () => {
  it('parses SITE:DURATION@AT', () => {
    expect(parseSiteOutage('site-03:10m@2m')).toEqual({ site: 'site-03', durationMs: 600_000, atMs: 120_000 });
    expect(parseSiteOutage('site-01:1h30m@0s')).toEqual({ site: 'site-01', durationMs: 5_400_000, atMs: 0 });
  });
});

describe('fault files', () => {
  it('reads every fault, with defaults', () => {
    const plan = parseFaultFile(
      [
        'offline:',
        '  share: 0.1',
        '  meanOffline: 2m',
        'siteOutages:',
        '  - { site: site-02, at: 1m, duration: 2m }',
        'links:',
        '  - { site: "*", latency: 40ms, jitter: 10ms, loss: 0.01, bandwidth: 2Mbit }',
        '  - { site: site-02, latency: 600ms, bandwidth: 250KB/s }',
        'acceleratorFailures:',
        '  - { count: 2, within: 5m, for: 1m, site: site-01 }',
        '  - { count: 1, at: 30s }',
        'powerCuts:',
        '  - { count: 1, at: 30s }',
        '',
      ].join('\n'),
      'f.yaml',
    );
    expect(plan).toEqual({
      offline: { share: 0.1, meanOnlineMs: 300_000, meanOfflineMs: 120_000 },
      siteOutages: [{ site: 'site-02', atMs: 60_000, durationMs: 120_000 }],
      links: [
        { site: '*', latencyMs: 40, jitterMs: 10, loss: 0.01, bandwidthBytesPerSecond: 250_000 },
        { site: 'site-02', latencyMs: 600, jitterMs: 0, loss: 0, bandwidthBytesPerSecond: 250_000 },
      ],
      acceleratorFailures: [
        { count: 2, withinMs: 300_000, forMs: 60_000, site: 'site-01' },
        { count: 1, atMs: 30_000 },
      ],
      powerCuts: [{ count: 1, atMs: 30_000, downtimeMs: 10_000 }],
    });
  });

  it('takes an empty file as no faults', () => {
    expect(parseFaultFile('', 'f.yaml')).toEqual({ siteOutages: [], links: [], acceleratorFailures: [], powerCuts: [] });
  });

  it.each([
    ['crashes: 1\n', 'f.yaml:1: crashes: unknown fault "crashes"', 'faults are offline, siteOutages, links'],
    ['offline:\n  share: 2\n', 'f.yaml:2: offline.share: must be from 0 to 1', 'fix the field "offline.share"'],
    ['offline:\n  share: 0.1\n  meanOnline: 0s\n', 'f.yaml:3: offline.meanOnline: must be longer than 0s', 'fix the field'],
    [
      'siteOutages:\n  - site: site-01\n    at: 1m\n    duraton: 2m\n',
      'f.yaml:4: siteOutages.0.duraton: unknown field "duraton"',
      'remove "duraton" or fix its spelling',
    ],
    ['siteOutages:\n  - site: site-01\n    at: 1m\n', 'f.yaml:2: siteOutages.0.duration: is required', 'fix the field'],
    [
      'powerCuts:\n  - count: 2\n    downtime: 30s\n',
      'f.yaml:2: powerCuts.0: give either at (one moment) or within (random moments in [0, within])',
      'fix the field',
    ],
    [
      'powerCuts:\n  - count: 2\n    at: 1m\n    within: 5m\n',
      'f.yaml:4: powerCuts.0.within: give either at (one moment) or within (random moments in [0, within])',
      'fix the field',
    ],
    ['powerCuts:\n  - count: 0\n    at: 1m\n', 'f.yaml:2: powerCuts.0.count: must be at least 1', 'fix the field'],
    [
      'powerCuts:\n  - count: 1\n    within: 10m\n    downtime: 3x\n',
      'f.yaml:4: powerCuts.0.downtime: must be a duration such as 30s, 10m or 1h',
      'fix the field',
    ],
    ['links:\n  - site: "*"\n    bandwidth: fast\n', 'f.yaml:3: links.0.bandwidth: must be a rate such as 2Mbit or 250KB/s', 'fix the field'],
    ['links:\n  - site: "*"\n    loss: 1\n', 'f.yaml:3: links.0.loss: must be below 1 (a link that loses everything is an outage)', 'fix the field'],
    [
      'acceleratorFailures:\n  - count: 1\n    at: 1m\n    site: Site 1\n',
      'f.yaml:4: acceleratorFailures.0.site: must be a site name such as site-03',
      'fix the field',
    ],
    ['- 1\n', 'f.yaml:1: a fault file is a mapping of faults', 'faults are offline'],
    ['links: [\n', 'f.yaml:2: YAML syntax error:', 'fix the YAML at that line'],
  ])('refuses %j', (text, message, hint) => {
    const r = refusal(() => parseFaultFile(text, 'f.yaml'));
    expect(r.message.startsWith(message)).toBe(true);
    expect(r.hint).toContain(hint);
  });
});
