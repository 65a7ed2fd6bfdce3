/**
 * Simulated hardware: which HAT each node has (`--hat-mix`), the fixture preset that stands
 * in for it, and accelerator failures. A node's hardware root is a fixture folder written by
 * the agent's own `writeHardwareFixture`, and the real probe reads it; an accelerator
 * failure deletes the files the probe finds the device by (PCI function, driver sysfs entry,
 * /dev node), so the agent notices it exactly as on a Pi, and a repair writes them back.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { type HardwarePreset, writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { type EdgefleetError, errors } from '@edgefleet/protocol';
import type { ComputeKind } from './latency.js';

/** What a node has on its HAT connector or USB port (`none`: a bare Pi 5). */
export const HAT_KINDS = ['hailo8l', 'hailo8', 'hailo10h', 'coral-pcie', 'coral-usb', 'none'] as const;
export type HatKind = (typeof HAT_KINDS)[number];

/** Share of the fleet per HAT kind; shares add up to 1. */
export type HatMix = Partial<Record<HatKind, number>>;

/** The default mix: mostly the 13 TOPS Hailo-8L, some Hailo-8, a fifth without a HAT. */
export const DEFAULT_HAT_MIX: Readonly<HatMix> = { hailo8l: 0.6, hailo8: 0.2, none: 0.2 };

/** The fixture preset that looks like each kind to the probe. */
export const PRESET_OF: Readonly<Record<HatKind, HardwarePreset>> = {
  hailo8l: 'pi5-hailo8l',
  hailo8: 'pi5-hailo8',
  hailo10h: 'pi5-hailo10h',
  'coral-pcie': 'pi5-coral-pcie',
  'coral-usb': 'pi4-coral-usb',
  none: 'pi5-nohat',
};

/** What serves a primary model on a node of this kind with its accelerator working. */
export function computeOf(kind: HatKind): ComputeKind {
  return kind === 'none' ? 'cpu' : kind;
}

function mixError(message: string, hint = `write it as KIND=SHARE,… with kinds ${HAT_KINDS.join(', ')}, e.g. hailo8l=0.6,hailo8=0.2,none=0.2`): EdgefleetError {
  return errors.config(`--hat-mix: ${message}`, hint, { field: 'hat-mix' });
}

/** Parses `hailo8l=0.6,hailo8=0.2,none=0.2`; shares must add up to 1 (± 0.001). */
export function parseHatMix(text: string): HatMix {
  const mix: HatMix = {};
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) throw mixError('is empty');
  for (const part of parts) {
    const m = /^([a-z0-9-]+)\s*=\s*(.+)$/.exec(part);
    if (m === null) throw mixError(`"${part}" is not KIND=SHARE`);
    const kind = m[1] as string;
    if (!(HAT_KINDS as readonly string[]).includes(kind)) throw mixError(`unknown kind "${kind}"`, `kinds are ${HAT_KINDS.join(', ')}`);
    if (mix[kind as HatKind] !== undefined) throw mixError(`"${kind}" is given twice`);
    const share = Number(m[2]);
    if (!Number.isFinite(share) || share < 0 || share > 1) throw mixError(`the share of ${kind} must be a number from 0 to 1, got "${m[2]}"`);
    mix[kind as HatKind] = share;
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  if (Math.abs(total - 1) > 0.001)
    throw mixError(`the shares add up to ${Number(total.toFixed(6))}, not 1`, 'make the shares add up to 1, e.g. hailo8l=0.6,hailo8=0.2,none=0.2');
  return mix;
}

/**
 * Gives each of `nodes` nodes a kind: exact counts by largest remainder (so 0.6 of 20 is
 * 12), then shuffled with the seeded generator so every site gets a mix.
 */
export function assignHats(mix: HatMix, nodes: number, random: () => number): HatKind[] {
  const entries = HAT_KINDS.filter((k) => (mix[k] ?? 0) > 0).map((k) => ({ kind: k, exact: (mix[k] as number) * nodes }));
  const counts = entries.map((e) => ({ kind: e.kind, n: Math.floor(e.exact), rest: e.exact - Math.floor(e.exact) }));
  let left = nodes - counts.reduce((a, c) => a + c.n, 0);
  for (const c of [...counts].sort((a, b) => b.rest - a.rest)) {
    if (left <= 0) break;
    c.n++;
    left--;
  }
  const kinds = counts.flatMap((c) => Array.from({ length: c.n }, () => c.kind));
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j] as HatKind, kinds[i] as HatKind];
  }
  return kinds;
}

/** Where each kind shows up in a fixture (see the agent's fixture-accelerators.ts). */
const ACCELERATOR_PATHS: Readonly<Record<HatKind, readonly string[]>> = {
  hailo8l: ['sys/bus/pci/devices/0001:01:00.0', 'sys/class/hailo_chardev/hailo0', 'dev/hailo0'],
  hailo8: ['sys/bus/pci/devices/0001:01:00.0', 'sys/class/hailo_chardev/hailo0', 'dev/hailo0'],
  hailo10h: ['sys/bus/pci/devices/0001:01:00.0', 'dev/h1x-0'],
  'coral-pcie': ['sys/bus/pci/devices/0001:01:00.0', 'sys/class/apex/apex_0', 'dev/apex_0'],
  'coral-usb': ['sys/bus/usb/devices/2-1', 'sys/bus/usb/devices/2-1:1.0'],
  none: [],
};

/** Writes a node's hardware root. */
export async function writeNodeHardware(hwRoot: string, kind: HatKind, serial: string): Promise<void> {
  await writeHardwareFixture(hwRoot, PRESET_OF[kind], { serial });
}

/**
 * The accelerator dies: its PCI function (or USB device), driver entry and /dev node vanish,
 * as when a HAT's link drops. A cached identify output stays, as it would on disk; the probe
 * ignores an identity that matches no device present.
 */
export async function removeAccelerator(hwRoot: string, kind: HatKind): Promise<void> {
  await Promise.all(ACCELERATOR_PATHS[kind].map((p) => rm(join(hwRoot, p), { recursive: true, force: true })));
}

/** The accelerator is back (reseated, driver reloaded): the fixture is written again. */
export async function restoreAccelerator(hwRoot: string, kind: HatKind, serial: string): Promise<void> {
  await writeNodeHardware(hwRoot, kind, serial);
}
