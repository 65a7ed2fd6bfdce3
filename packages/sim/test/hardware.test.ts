import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { labelsFromFacts, probeHardware } from '@edgefleet/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAT_KINDS, type HatKind, removeAccelerator, restoreAccelerator, writeNodeHardware } from '../src/hardware.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgefleet-sim-hw-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const probe = async (root: string) => labelsFromFacts(await probeHardware(root, { agentVersion: 'test' }), { site: 'site-01' });

describe('simulated hardware, as the real probe sees it', () => {
  it.each(HAT_KINDS.filter((k) => k !== 'none'))('%s: an accelerator failure removes it from the probe, a repair brings it back', async (kind: HatKind) => {
    const root = join(dir, kind);
    await writeNodeHardware(root, kind, '00c0ffee00000001');
    expect(await probe(root)).toMatchObject({ 'hardware.ai-hat': 'true', 'ai.accelerator': kind, 'geolocation.site': 'site-01' });
    await removeAccelerator(root, kind);
    const without = await probe(root);
    expect(without['hardware.ai-hat']).toBe('false');
    expect(without['ai.accelerator']).toBe('none');
    await restoreAccelerator(root, kind, '00c0ffee00000001');
    expect(await probe(root)).toMatchObject({ 'hardware.ai-hat': 'true', 'ai.accelerator': kind });
  });

  it('a node without a HAT has nothing to lose', async () => {
    const root = join(dir, 'none');
    await writeNodeHardware(root, 'none', '00c0ffee00000002');
    expect((await probe(root))['hardware.ai-hat']).toBe('false');
    await removeAccelerator(root, 'none');
    expect((await probe(root))['cpu.arch']).toBe('arm64');
  });

  it('gives each node its own serial', async () => {
    const a = join(dir, 'a');
    const b = join(dir, 'b');
    await writeNodeHardware(a, 'hailo8l', '00000000000000a1');
    await writeNodeHardware(b, 'hailo8l', '00000000000000b2');
    const fa = await probeHardware(a, { agentVersion: 'test' });
    const fb = await probeHardware(b, { agentVersion: 'test' });
    expect(fa.board.serial).toBe('00000000000000a1');
    expect(fb.board.serial).toBe('00000000000000b2');
  });
});
