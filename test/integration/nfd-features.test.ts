import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { nfdLabelName } from '@edgefleet/agent';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/** The feature file's labels: `name=value` lines, comments left out. */
function features(path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

/**
 * Issue 17, node features: an enrolled agent keeps an NFD local-source feature file equal to
 * the labels the server has for it, and follows a change (the HAT disappears) at the next
 * heartbeat.
 */
describe('the NFD feature file of a running agent', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 300 });
  });
  afterAll(async () => {
    await fleet.close();
  });

  it('holds the labels the server has for the node, and follows the HAT going away', async () => {
    const file = join(fleet.dir, 'features.d', 'edgefleet');
    mkdirSync(join(fleet.dir, 'features.d'));
    const token = await fleet.createToken();
    const { agent, hwRoot } = await fleet.startAgent('pi5-hailo8l', { token, site: 'lab-1', nfdFeaturesFile: file });
    await eventually(() => agent.state.nodeId, 10_000, 'enrollment');
    const node = await fleet.admin.getNode(agent.state.nodeId as string);
    const expected = Object.fromEntries(Object.entries(node.detectedLabels).map(([k, v]) => [nfdLabelName(k) as string, v]));
    expect(features(file)).toEqual(expected);
    expect(features(file)).toMatchObject({
      'feature.node.kubernetes.io/edgefleet-ai.accelerator': 'hailo8l',
      'feature.node.kubernetes.io/edgefleet-hardware.ai-hat': 'true',
      'feature.node.kubernetes.io/edgefleet-geolocation.site': 'lab-1',
    });

    // The HAT goes (removed with the power off, driver gone): device node, sysfs entry, PCI function.
    await rm(join(hwRoot, 'dev/hailo0'));
    await rm(join(hwRoot, 'sys/class/hailo_chardev'), { recursive: true });
    await rm(join(hwRoot, 'sys/bus/pci/devices/0001:01:00.0'), { recursive: true });
    await eventually(() => features(file)['feature.node.kubernetes.io/edgefleet-ai.accelerator'] === 'none', 10_000, 'the file to follow');
    expect(features(file)['feature.node.kubernetes.io/edgefleet-hardware.ai-hat']).toBe('false');
    const after = await eventually(async () => {
      const n = await fleet.admin.getNode(agent.state.nodeId as string);
      return n.detectedLabels['ai.accelerator'] === 'none' ? n : undefined;
    });
    expect(features(file)).toEqual(Object.fromEntries(Object.entries(after.detectedLabels).map(([k, v]) => [nfdLabelName(k) as string, v])));
    expect(existsSync(join(fleet.dir, 'features.d', `.edgefleet.tmp-${process.pid}`))).toBe(false);
  });
});
