import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { HardwareFactsSchema } from '@edgefleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HARDWARE_PRESETS, writeHardwareFixture } from '../../src/fixtures/index.js';
import { labelsFromFacts, probeHardware } from '../../src/probe/index.js';
import { EXPECTED } from './expected-presets.js';

const EXAMPLES = path.resolve(import.meta.dirname, '../../../../examples/hardware');
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;

let fresh: string;
beforeAll(async () => {
  fresh = await mkdtemp(path.join(tmpdir(), 'edgefleet-probe-'));
  await Promise.all(HARDWARE_PRESETS.map((p) => writeHardwareFixture(path.join(fresh, p), p)));
});
afterAll(async () => {
  await rm(fresh, { recursive: true, force: true });
});

const roots: ReadonlyArray<readonly [string, () => string]> = [
  ['committed examples/hardware', () => EXAMPLES],
  ['freshly written fixture', () => fresh],
];

describe.each(roots)('probeHardware on the %s', (_name, root) => {
  it.each(HARDWARE_PRESETS)('%s: facts', async (preset) => {
    const facts = await probeHardware(path.join(root(), preset), { agentVersion: '0.1.0' });
    expect(facts).toEqual({ ...EXPECTED[preset].facts, agentVersion: '0.1.0' });
    // The facts cross the wire: they must pass the protocol's own schema.
    expect(HardwareFactsSchema.parse(facts)).toEqual(facts);
  });

  it.each(HARDWARE_PRESETS)('%s: labels', async (preset) => {
    const facts = await probeHardware(path.join(root(), preset), { agentVersion: '0.1.0' });
    const labels = labelsFromFacts(facts, { site: 'lab-1' });
    expect(labels).toEqual(EXPECTED[preset].labels);
    for (const value of Object.values(labels)) expect(value).toMatch(LABEL_VALUE);
  });
});

describe('writeHardwareFixture options', () => {
  it('writes the serial, temperature and bootloader time it is given', async () => {
    const dir = path.join(fresh, 'custom');
    await writeHardwareFixture(dir, 'pi5-hailo8l', { serial: '0123456789abcdef', temperatureMilliC: 71049, bootloaderTimestamp: 1736942400, throttled: 0 });
    const facts = await probeHardware(dir, { agentVersion: '9.9.9', hostname: 'given-name' });
    expect(facts.board.serial).toBe('0123456789abcdef');
    expect(facts.thermal).toEqual({ temperatureC: 71, throttledBits: 0 });
    expect(facts.firmware).toEqual({ bootloaderBuildTime: '2025-01-15T12:00:00.000Z', version: '20250115' });
    expect(facts.hostname).toBe('given-name');
    expect(facts.agentVersion).toBe('9.9.9');
  });

  it('uses the given serial as machine-id on a PC', async () => {
    const dir = path.join(fresh, 'custom-pc');
    await writeHardwareFixture(dir, 'pc-amd64', { serial: 'aaaabbbbccccddddeeeeffff00001111' });
    const facts = await probeHardware(dir, { agentVersion: '0.1.0' });
    expect(facts.board.serial).toBe('aaaabbbbccccddddeeeeffff00001111');
    expect(facts.hostname).toBe('edge-001111');
  });

  it.each([
    ['a Pi serial of the wrong length', 'pi5-nohat', { serial: 'abc' }],
    ['a PC serial that is not a machine-id', 'pc-amd64', { serial: '0123456789abcdef' }],
    ['an all-zero serial', 'pi5-nohat', { serial: '0000000000000000' }],
    ['a timestamp beyond 32 bits', 'pi5-nohat', { bootloaderTimestamp: 2 ** 32 }],
    ['a fractional temperature', 'pi5-nohat', { temperatureMilliC: 1.5 }],
  ] as const)('rejects %s', async (_name, preset, opts) => {
    await expect(writeHardwareFixture(path.join(fresh, 'rejected'), preset, opts)).rejects.toThrow(RangeError);
  });

  it('writes distinct nodes quickly enough for a simulator', async () => {
    const started = performance.now();
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        writeHardwareFixture(path.join(fresh, 'fleet', String(i)), 'pi5-hailo8l', { serial: i.toString(16).padStart(16, 'a') }),
      ),
    );
    const serials = await Promise.all(
      [0, 199].map(async (i) => (await probeHardware(path.join(fresh, 'fleet', String(i)), { agentVersion: '0' })).board.serial),
    );
    expect(serials).toEqual(['aaaaaaaaaaaaaaa0', 'aaaaaaaaaaaaaac7']);
    expect(performance.now() - started).toBeLessThan(20_000);
  });
});
