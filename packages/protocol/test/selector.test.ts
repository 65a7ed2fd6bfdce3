import { describe, expect, it } from 'vitest';
import { formatSelector, matchesSelector, parseSelector, selectorFromMatch } from '../src/selector.js';

const pi = { 'ai.accelerator': 'hailo8l', 'geolocation.site': 'warehouse-east', 'cpu.arch': 'arm64', 'hardware.ai-hat': 'true' };
const pc = { 'ai.accelerator': 'none', 'cpu.arch': 'amd64', 'hardware.ai-hat': 'false' };

describe('parseSelector + matchesSelector', () => {
  const cases: Array<[string, boolean, boolean]> = [
    // selector, matches pi, matches pc
    ['', true, true],
    ['ai.accelerator=hailo8l', true, false],
    ['ai.accelerator==hailo8l', true, false],
    ['ai.accelerator!=hailo8l', false, true],
    ['geolocation.site!=warehouse-east', false, true], // absent key matches !=, as in Kubernetes
    ['ai.accelerator in (hailo8l,hailo8)', true, false],
    ['ai.accelerator in ( hailo8 , none )', false, true],
    ['ai.accelerator notin (hailo8l)', false, true],
    ['geolocation.site notin (shop-1)', true, true],
    ['geolocation.site', true, false],
    ['!geolocation.site', false, true],
    ['cpu.arch=arm64,hardware.ai-hat=true', true, false],
    ['cpu.arch=arm64, !geolocation.site', false, false],
    ['hardware.ai-hat in (true),ai.accelerator notin (coral-usb,coral-pcie)', true, false],
  ];
  it.each(cases)('%s', (text, matchPi, matchPc) => {
    const sel = parseSelector(text);
    expect(matchesSelector(sel, pi)).toBe(matchPi);
    expect(matchesSelector(sel, pc)).toBe(matchPc);
  });

  it('accepts an empty value', () => {
    expect(parseSelector('tier=')).toEqual([{ key: 'tier', operator: 'In', values: [''] }]);
    expect(matchesSelector(parseSelector('tier='), { tier: '' })).toBe(true);
  });

  const bad: Array<[string, RegExp]> = [
    ['a in (b', /expected "," or "\)"/],
    ['a in b', /expected "\(" after "in"/],
    ['a in ()', /needs at least one value/],
    ['a=b,', /trailing ","/],
    ['=b', /expected a label key/],
    ['bad key=x', /unexpected "key"/],
    ['a=b c', /unexpected "c"/],
    ['-a=b', /key "-a"/],
    [`a=${'x'.repeat(64)}`, /at most 63/],
    ['!', /after "!"/],
  ];
  it.each(bad)('rejects %s with a reason', (text, reason) => {
    expect(() => parseSelector(text)).toThrow(reason);
    try {
      parseSelector(text);
    } catch (err) {
      expect(err).toMatchObject({ code: 'invalid_selector', status: 400, field: 'selector' });
    }
  });

  it('points at the position of the problem', () => {
    expect(() => parseSelector('a=b,c in (d')).toThrow(/at position 12/);
    expect(() => parseSelector('a=b, -c')).toThrow(/key "-c".*at position 6/);
    expect(() => parseSelector('a=b c')).toThrow(/at position 5/);
  });

  it('round-trips through formatSelector', () => {
    for (const [text] of cases) expect(parseSelector(formatSelector(parseSelector(text)))).toEqual(parseSelector(text));
  });

  it('builds the same requirements from matchLabels and matchExpressions', () => {
    const sel = selectorFromMatch({
      matchLabels: { 'cpu.arch': 'arm64' },
      matchExpressions: [{ key: 'ai.accelerator', operator: 'In', values: ['hailo8l', 'hailo8'] }],
    });
    expect(sel).toEqual(parseSelector('cpu.arch=arm64,ai.accelerator in (hailo8l,hailo8)'));
  });
});
