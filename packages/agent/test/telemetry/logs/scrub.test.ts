import { readFileSync } from 'node:fs';
import { EdgefleetError } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { createScrubber, opensPrivateKeyBlock, privateKeyBlockLine } from '../../../src/telemetry/logs/scrub.js';

interface CorpusCase {
  lineNo: number;
  input: string;
  expected: string;
}

/** Reads test/fixtures/log-corpus.txt (format described at its top). */
function readCorpus(): CorpusCase[] {
  const lines = readFileSync(new URL('../../fixtures/log-corpus.txt', import.meta.url), 'utf8').split('\n');
  const cases: CorpusCase[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '' || line.startsWith('#')) continue;
    const body = line.slice(2);
    if (line.startsWith('= ')) {
      cases.push({ lineNo: i + 1, input: body, expected: body });
    } else if (line.startsWith('< ') && lines[i + 1]?.startsWith('> ')) {
      cases.push({ lineNo: i + 1, input: body, expected: (lines[i + 1] as string).slice(2) });
      i++;
    } else {
      throw new Error(`log-corpus.txt line ${i + 1} is neither "= line" nor a "< input" / "> expected" pair`);
    }
  }
  return cases;
}

describe('the built-in scrubber on the corpus', () => {
  const corpus = readCorpus();
  const scrub = createScrubber();

  it('holds enough real-looking lines, of every kind', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(60);
    const outputs = corpus.map((c) => c.expected).join('\n');
    for (const marker of ['[email]', '[ipv4]', '[ipv6]', '[jwt]', '[bearer]', '[private-key]', '[aws-key]', '[secret]', '[bootstrap-token:', '[api-token:']) {
      expect(outputs, `no corpus case produces ${marker}`).toContain(marker);
    }
    expect(corpus.filter((c) => c.input === c.expected).length).toBeGreaterThanOrEqual(20);
  });

  it.each(corpus.map((c) => [c.lineNo, c] as const))('line %i comes out as expected', (_lineNo, c) => {
    expect(scrub(c.input)).toBe(c.expected);
  });

  it('is idempotent: scrubbing scrubbed output changes nothing', () => {
    for (const c of corpus) expect(scrub(c.expected)).toBe(c.expected);
  });
});

describe('configured rules and field drops', () => {
  it('replaces matches of an operator rule with its name as the marker, or with its replacement', () => {
    const scrub = createScrubber({
      rules: [
        { name: 'order-id', pattern: 'ORD-[0-9]{8}' },
        { name: 'customer', pattern: 'customer=(\\w+)', replacement: 'customer=[customer]' },
      ],
    });
    expect(scrub('shipped ORD-12345678 for customer=acme to alice@example.com')).toBe('shipped [order-id] for customer=[customer] to [email]');
  });

  it('runs operator rules before the built-ins, so they see the text as written', () => {
    const scrub = createScrubber({ rules: [{ name: 'site-ip', pattern: 'site 10\\.\\d+\\.\\d+\\.\\d+', replacement: 'site [site-ip]' }] });
    expect(scrub('site 10.4.0.1 gateway 10.4.0.254')).toBe('site [site-ip] gateway [ipv4]');
  });

  it('rejects an invalid regex with a config error that names the rule', () => {
    let error: unknown;
    try {
      createScrubber({ rules: [{ name: 'broken', pattern: 'a(b' }] });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EdgefleetError);
    expect((error as EdgefleetError).code).toBe('config');
    expect((error as EdgefleetError).message).toMatch(/log scrub rule "broken" has an invalid regular expression "a\(b"/);
  });

  it('rejects a rule that matches the empty string, and a rule without a name', () => {
    expect(() => createScrubber({ rules: [{ name: 'greedy', pattern: 'x*' }] })).toThrow(/"greedy" matches the empty string/);
    expect(() => createScrubber({ rules: [{ name: '', pattern: 'x' }] })).toThrow(/rule #1 has no name/);
  });

  it('drops a plain key at any depth and a dotted path wherever it starts', () => {
    const scrub = createScrubber({ dropFields: ['phone', 'user.address'] });
    const line = JSON.stringify({
      msg: 'order',
      phone: '555-0100',
      user: { name: 'kim', address: { street: 'Main St 1' }, phone: '555-0101' },
      items: [{ sku: 'a', phone: '555-0102' }],
      shipping: { user: { address: 'elsewhere', id: 7 } },
    });
    expect(JSON.parse(scrub(line))).toEqual({
      msg: 'order',
      user: { name: 'kim' },
      items: [{ sku: 'a' }],
      shipping: { user: { id: 7 } },
    });
  });

  it('drops a key that literally contains the dots, then still scrubs what is left', () => {
    const scrub = createScrubber({ dropFields: ['user.address'] });
    expect(scrub('{"user.address":"Main St 1","peer":"192.168.1.9"}')).toBe('{"peer":"[ipv4]"}');
  });

  it('leaves lines alone that are not JSON objects or hold none of the fields (formatting kept)', () => {
    const scrub = createScrubber({ dropFields: ['phone'] });
    expect(scrub('phone: 555-0100 (not JSON)')).toBe('phone: 555-0100 (not JSON)');
    expect(scrub('{ "msg" : "spaced",  "n": 1 }')).toBe('{ "msg" : "spaced",  "n": 1 }');
    expect(scrub('{"msg": "broken json"')).toBe('{"msg": "broken json"');
  });

  it('rejects an empty field name', () => {
    expect(() => createScrubber({ dropFields: ['user.'] })).toThrow(/not a key or a dotted path/);
  });
});

describe('PEM blocks printed line by line', () => {
  it('recognises the BEGIN line that opens a block, its body and its END', () => {
    expect(opensPrivateKeyBlock('-----BEGIN OPENSSH PRIVATE KEY-----')).toBe(true);
    expect(opensPrivateKeyBlock('-----BEGIN CERTIFICATE-----')).toBe(false);
    expect(opensPrivateKeyBlock('key: -----BEGIN PRIVATE KEY----- MIIE -----END PRIVATE KEY-----')).toBe(false);
    expect(privateKeyBlockLine('MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj')).toBe('body');
    expect(privateKeyBlockLine('Proc-Type: 4,ENCRYPTED')).toBe('body');
    expect(privateKeyBlockLine('-----END RSA PRIVATE KEY-----')).toBe('end');
    expect(privateKeyBlockLine('[INFO] server started')).toBe('outside');
  });
});

describe('long lines of near misses', () => {
  // Without a timing assertion: a catastrophically backtracking rule would not finish
  // within the test timeout on these. The figures are in the report of the change.
  const fill = (unit: string): string => unit.repeat(Math.ceil(100_000 / unit.length)).slice(0, 100_000);
  const nearMisses = [
    fill('a@'),
    `${fill('a.')}@`,
    `x@${fill('a-')}`,
    fill('1.2.3.'),
    fill('1:2:'),
    fill('ab::'),
    fill(':'),
    fill('eyJ'),
    fill('eyJabcde.'),
    fill('password='),
    fill('password="'),
    fill('"password":"'),
    fill('\\"password\\":\\"'),
    fill('-----BEGIN RSA PRIVATE KEY-----'),
    `-----BEGIN PRIVATE KEY-----${fill('A')}`,
    fill('bearer '),
    fill('Authorization: '),
    fill('AKIA'),
    fill('a://b:'),
    `EF1${fill('a')}`,
    fill('efa_'),
  ];

  it.each(nearMisses.map((line, i) => [i, line] as const))('finishes on near-miss line #%i', (_i, line) => {
    const out = createScrubber()(line);
    expect(typeof out).toBe('string');
  });

  it('still finds the real thing at the end of a long line', () => {
    const out = createScrubber()(`${fill('1.2.3.')} reach me at kim@example.com`);
    expect(out.endsWith('reach me at [email]')).toBe(true);
  });
});
