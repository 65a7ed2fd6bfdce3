import { describe, expect, it } from 'vitest';
import { assertValidLabel, labelKeyProblem, labelValueProblem, parseLabelArg } from '../src/labels.js';

describe('label rules (Kubernetes)', () => {
  it.each(['a', 'geolocation.site', 'hardware.ai-hat', 'example.com/zone', 'A_b-c.d', 'x'.repeat(63), `${'a'.repeat(60)}.com/${'b'.repeat(63)}`])(
    'key %s is valid',
    (key) => {
      expect(labelKeyProblem(key)).toBeUndefined();
    },
  );
  it.each([
    ['', /must not be empty/],
    ['-a', /start and end/],
    ['a-', /start and end/],
    ['a b', /may hold only/],
    ['x'.repeat(64), /at most 63/],
    ['/a', /prefix/],
    ['Example.com/a', /prefix/],
    ['a/b/c', /may hold only/],
  ])('key %j is invalid', (key, why) => {
    expect(labelKeyProblem(key)).toMatch(why);
  });
  it.each(['', 'hailo8l', '20231206', 'warehouse-east', 'a.b_c-d'])('value %j is valid', (v) => expect(labelValueProblem(v)).toBeUndefined());
  it.each(['-x', 'x-', 'a b', 'é', 'x'.repeat(64)])('value %j is invalid', (v) => expect(labelValueProblem(v)).toBeDefined());

  it('names the label in the error', () => {
    expect(() => assertValidLabel('site', 'bad value')).toThrow(/"bad value" for label "site"/);
    try {
      assertValidLabel('site', 'bad value');
    } catch (err) {
      expect(err).toMatchObject({ code: 'invalid_label', status: 400, field: 'labels.site' });
    }
  });

  it('parses kubectl label arguments', () => {
    expect(parseLabelArg('tier=gold')).toEqual({ key: 'tier', value: 'gold' });
    expect(parseLabelArg('tier=')).toEqual({ key: 'tier', value: '' });
    expect(parseLabelArg('tier-')).toEqual({ key: 'tier', remove: true });
    expect(() => parseLabelArg('tier')).toThrow(/key=value/);
    expect(() => parseLabelArg('=x')).toThrow(/key=value/);
  });
});
