import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeHardwareFixture } from '../../src/fixtures/index.js';
import { HardwareProbe, labelsFromFacts } from '../../src/probe/index.js';

/**
 * Issue 17: the HailoRT driver and firmware versions become labels (`ai.driver.version`,
 * `ai.firmware.version`), since driver upgrades are the fleet's riskiest event. The driver
 * version is the kernel module's (`/sys/module/hailo_pci/version`, `hailo1x_pci` for a
 * Hailo-10H on HailoRT 5.3+); the firmware version comes from the identify cache.
 */
let root: string;
let n = 0;
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'edgefleet-hailo-driver-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function probe(preset: Parameters<typeof writeHardwareFixture>[1], modules: Record<string, string>) {
  const dir = path.join(root, String(++n));
  await writeHardwareFixture(dir, preset);
  for (const [module, version] of Object.entries(modules)) {
    await mkdir(path.join(dir, 'sys/module', module), { recursive: true });
    await writeFile(path.join(dir, 'sys/module', module, 'version'), version);
  }
  const facts = await new HardwareProbe(dir, { agentVersion: 'test' }).read();
  return { accelerator: facts.accelerators[0], labels: labelsFromFacts(facts, {}) };
}

describe('Hailo driver and firmware versions', () => {
  it.each([
    // preset, module files, expected driver label, expected firmware label
    ['pi5-hailo8', { hailo_pci: '4.23.0\n' }, '4.23.0', '4.23.0'],
    ['pi5-hailo8l', { hailo_pci: '4.20.0' }, '4.20.0', '4.23.0'],
    // HailoRT 5.3+: the 10H is served by hailo1x_pci; hailo_pci's version is another device's.
    ['pi5-hailo10h', { hailo1x_pci: '5.3.0\n', hailo_pci: '4.23.0\n' }, '5.3.0', '5.3.0'],
    // An older driver served the 10H through hailo_pci (/dev/hailo0).
    ['pi5-hailo10h-legacy-driver', { hailo_pci: '4.20.1\n' }, '4.20.1', '4.20.1'],
    // No module loaded, or a version that is not one: no label rather than a guess.
    ['pi5-hailo8', {}, undefined, '4.23.0'],
    ['pi5-hailo8', { hailo_pci: 'garbage version\n' }, undefined, '4.23.0'],
    ['pi5-hailo8', { hailo_pci: '4.23.0\u0007' }, undefined, '4.23.0'],
    // No identify cache (HailoRT not installed): the driver version still shows.
    ['cm5-hailo8l', { hailo_pci: '4.23.0\n' }, '4.23.0', undefined],
  ] as const)('%s with %j: ai.driver.version %s, ai.firmware.version %s', async (preset, modules, driver, firmware) => {
    const { accelerator, labels } = await probe(preset, modules);
    expect(accelerator?.driverVersion).toBe(driver);
    expect(labels['ai.driver.version']).toBe(driver);
    expect(labels['ai.firmware.version']).toBe(firmware);
  });

  it('labels nothing about drivers on a node without an accelerator', async () => {
    const { labels } = await probe('pc-amd64', { hailo_pci: '4.23.0\n' });
    expect(labels['ai.driver.version']).toBeUndefined();
    expect(labels['ai.firmware.version']).toBeUndefined();
  });
});
