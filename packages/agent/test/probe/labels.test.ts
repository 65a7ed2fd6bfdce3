import type { Accelerator, HardwareFacts } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { labelsFromFacts } from '../../src/probe/index.js';

const GIB = 1024 ** 3;

function facts(over: Partial<HardwareFacts>): HardwareFacts {
  return {
    board: { model: null, slug: 'generic', serial: null, revisionCode: null },
    cpu: { arch: 'arm64', kernelArch: 'aarch64', cores: 4 },
    memoryBytes: null,
    firmware: { bootloaderBuildTime: null, version: null },
    thermal: { temperatureC: null, throttledBits: null },
    accelerators: [],
    hostname: null,
    agentVersion: '0.1.0',
    ...over,
  };
}

const usb: Accelerator = { kind: 'coral-usb', device: 'usb:18d1:9302', source: 'usb-id 18d1:9302' };
const hat: Accelerator = { kind: 'hailo8', device: '/dev/hailo0', source: 'test' };

describe('labelsFromFacts', () => {
  it.each([
    ['8245016 kB', 8245016 * 1024, '8'],
    ['8 GiB from the revision code', 8 * GIB, '8'],
    ['3885396 kB (a 4 GB Pi 4)', 3885396 * 1024, '4'],
    ['16318512 kB (a 16 GB PC)', 16318512 * 1024, '16'],
  ])('rounds memory to whole GB: %s', (_name, memoryBytes, gb) => {
    expect(labelsFromFacts(facts({ memoryBytes }), {})['memory.gb']).toBe(gb);
  });

  it('prefers a PCIe accelerator over a USB one, whatever the order', () => {
    expect(labelsFromFacts(facts({ accelerators: [usb, hat] }), {})['ai.accelerator']).toBe('hailo8');
    expect(labelsFromFacts(facts({ accelerators: [usb] }), {})).toMatchObject({ 'ai.accelerator': 'coral-usb', 'hardware.ai-hat': 'true' });
  });

  it('leaves unknown values out instead of inventing them', () => {
    expect(Object.keys(labelsFromFacts(facts({}), {})).sort()).toEqual(['ai.accelerator', 'board.model', 'cpu.arch', 'hardware.ai-hat']);
    expect(labelsFromFacts(facts({}), { site: '' })).not.toHaveProperty('geolocation.site');
  });

  it('produces exactly the seven keys when everything is known', () => {
    const labels = labelsFromFacts(facts({ memoryBytes: GIB, firmware: { bootloaderBuildTime: 'x', version: '20231206' }, accelerators: [hat] }), {
      site: 'warehouse-east',
    });
    expect(labels).toEqual({
      'hardware.ai-hat': 'true',
      'ai.accelerator': 'hailo8',
      'cpu.arch': 'arm64',
      'firmware.version': '20231206',
      'geolocation.site': 'warehouse-east',
      'board.model': 'generic',
      'memory.gb': '1',
    });
  });

  it('rejects a site that is not a valid label value, naming the label', () => {
    expect(() => labelsFromFacts(facts({}), { site: 'north wing!' })).toThrow(/geolocation\.site/);
  });
});
