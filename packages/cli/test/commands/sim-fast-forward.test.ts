import { describe, expect, it } from 'vitest';
import { runCli } from '../../../../test-support/cli.js';
import { fastForwardRealMs, parseFastForward, startFastForwardSandbox } from '../../src/commands/sim-fast-forward.js';

const DAY = 86_400_000;

describe('edgefleet sim --fast-forward', () => {
  it.each([
    ['7d', 7 * DAY],
    ['36h', 1.5 * DAY],
    ['30d', 30 * DAY],
  ])('takes %s', (text, ms) => {
    expect(parseFastForward(text)).toBe(ms);
  });
  it.each([
    ['a week', /must be a duration such as 7d/],
    ['10m', /outside 1h … 30d/],
    ['31d', /outside 1h … 30d/],
  ])('refuses %s', (text, message) => {
    expect(() => parseFastForward(text)).toThrow(message);
  });
  it('takes about five minutes a week, and a minute at least', () => {
    expect(fastForwardRealMs(7 * DAY)).toBe(302_400);
    expect(fastForwardRealMs(3_600_000)).toBe(60_000);
  });
  it('refuses a server of its own and lan nodes before starting anything', async () => {
    await expect(startFastForwardSandbox({ fastForward: '7d', nodes: '3', server: 'https://x:1' }, 7 * DAY)).rejects.toThrow(/leave out --server/);
    await expect(startFastForwardSandbox({ fastForward: '7d', nodes: '3', profile: 'lan' } as never, 7 * DAY)).rejects.toThrow(/needs --profile metered/);
  });

  it('still needs --server without --fast-forward', async () => {
    const r = await runCli('sim', '--nodes', '3');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--server is required/);
    expect(r.err).toMatch(/--fast-forward 7d/);
  });
});
