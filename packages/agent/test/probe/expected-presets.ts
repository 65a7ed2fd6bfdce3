import type { Accelerator, HardwareFacts } from '@edgefleet/protocol';
import type { HardwarePreset } from '../../src/fixtures/index.js';

/** What the probe must report for each preset written with its default options. */
export interface PresetExpectation {
  facts: Omit<HardwareFacts, 'agentVersion'>;
  /** Labels with `site: 'lab-1'`. */
  labels: Record<string, string>;
}

const GIB = 1024 ** 3;
const HAT = '0001:01:00.0';

const PI_FIRMWARE = { bootloaderBuildTime: '2023-12-06T18:29:25.000Z', version: '20231206' };
const PI_THERMAL = { temperatureC: 52.3, throttledBits: 0x50005 };
const ARM64 = { arch: 'arm64', kernelArch: 'aarch64', cores: 4 };

function pi(model: string, slug: string, serial: string, revisionCode: string, memoryGb: number, accelerators: Accelerator[]): PresetExpectation {
  const primary = accelerators[0]?.kind;
  return {
    facts: {
      board: { model, slug, serial, revisionCode },
      cpu: ARM64,
      memoryBytes: memoryGb * GIB,
      firmware: PI_FIRMWARE,
      thermal: PI_THERMAL,
      accelerators,
      hostname: `edge-${serial.slice(-6)}`,
    },
    labels: {
      'hardware.ai-hat': primary === undefined ? 'false' : 'true',
      'ai.accelerator': primary ?? 'none',
      'cpu.arch': 'arm64',
      'firmware.version': '20231206',
      'geolocation.site': 'lab-1',
      'board.model': slug,
      'memory.gb': String(memoryGb),
      // The identify cache's firmware version (issue 17); the presets carry no driver version.
      ...(accelerators[0]?.firmwareVersion === undefined ? {} : { 'ai.firmware.version': accelerators[0].firmwareVersion }),
    },
  };
}

const hailo0 = { device: '/dev/hailo0', busLocation: HAT };

/** The expected probe result per preset. */
export const EXPECTED: Readonly<Record<HardwarePreset, PresetExpectation>> = {
  'pi5-hailo8l': pi('Raspberry Pi 5 Model B Rev 1.0', 'raspberrypi5', '05a350ebd1b50841', 'd04170', 8, [
    {
      kind: 'hailo8l',
      ...hailo0,
      source: 'pci-id 1e60:2864 + sysfs hailo_chardev/hailo0 + hailortcli identify (HAILO8L)',
      pciId: '1e60:2864',
      serial: 'HLDDLBB243303522',
      firmwareVersion: '4.23.0',
    },
  ]),
  'pi5-hailo8': pi('Raspberry Pi 5 Model B Rev 1.1', 'raspberrypi5', '7c2a91d04e8b3f16', 'd04171', 8, [
    {
      kind: 'hailo8',
      ...hailo0,
      source: 'pci-id 1e60:2864 + sysfs hailo_chardev/hailo0 + hailortcli identify (HAILO8)',
      pciId: '1e60:2864',
      serial: 'HLLWM2B233701148',
      firmwareVersion: '4.23.0',
    },
  ]),
  'pi5-hailo10h': pi('Raspberry Pi 5 Model B Rev 1.1', 'raspberrypi5', '3e9f5c07a1d24b88', 'e04171', 16, [
    // HailoRT 5.x leaves out the empty serial: no serial field, not an empty one.
    { kind: 'hailo10h', device: '/dev/h1x-0', busLocation: HAT, source: 'pci-id 1e60:45c4 + /dev/h1x-0', pciId: '1e60:45c4', firmwareVersion: '5.3.0' },
  ]),
  'pi5-hailo10h-legacy-driver': pi('Raspberry Pi 5 Model B Rev 1.1', 'raspberrypi5', 'b81d6f4a92c05e37', 'd04171', 8, [
    // HailoRT 4.x prints `<N/A>` for the serial: also no serial field.
    { kind: 'hailo10h', ...hailo0, source: 'pci-id 1e60:45c4 + sysfs hailo_chardev/hailo0', pciId: '1e60:45c4', firmwareVersion: '4.20.1' },
  ]),
  'pi5-coral-pcie': pi('Raspberry Pi 5 Model B Rev 1.1', 'raspberrypi5', '1f4c8e2d7a905b63', 'c04171', 4, [
    { kind: 'coral-pcie', device: '/dev/apex_0', busLocation: HAT, source: 'pci-id 1ac1:089a + /dev/apex_0 + sysfs apex/apex_0', pciId: '1ac1:089a' },
  ]),
  'pi5-nohat': pi('Raspberry Pi 5 Model B Rev 1.0', 'raspberrypi5', 'e6a07b39c15d2f84', 'c04170', 4, []),
  'pi4-coral-usb': pi('Raspberry Pi 4 Model B Rev 1.5', 'raspberrypi4', '10000000a3c5e9f1', 'c03115', 4, [
    { kind: 'coral-usb', device: 'usb:18d1:9302', busLocation: '2-1', source: 'usb-id 18d1:9302' },
  ]),
  'cm5-hailo8l': pi('Raspberry Pi Compute Module 5 Rev 1.0', 'cm5', '9d2b4f61e0a87c35', 'd04180', 8, [
    { kind: 'hailo8l', ...hailo0, source: 'pci-id 1e60:2864 + sysfs hailo_chardev/hailo0 (architecture unknown, assumed hailo8l)', pciId: '1e60:2864' },
  ]),
  'pc-amd64': {
    facts: {
      board: { model: 'NUC11ATKC4', slug: 'generic', serial: '4f1c2e8a9b7d4c3e8f6a5b2d1c0e9f87', revisionCode: null },
      cpu: { arch: 'amd64', kernelArch: 'x86_64', cores: 4 },
      // No revision code on a PC: MemTotal, 16318512 kB.
      memoryBytes: 16318512 * 1024,
      firmware: { bootloaderBuildTime: null, version: null },
      thermal: { temperatureC: 52.3, throttledBits: null },
      accelerators: [],
      hostname: 'edge-0e9f87',
    },
    labels: {
      'hardware.ai-hat': 'false',
      'ai.accelerator': 'none',
      'cpu.arch': 'amd64',
      'geolocation.site': 'lab-1',
      'board.model': 'generic',
      'memory.gb': '16',
    },
  },
};
