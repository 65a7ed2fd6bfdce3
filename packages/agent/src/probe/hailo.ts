import type { Accelerator } from '@edgefleet/protocol';
import { type BusScan, compareText, indexedNodes } from './buses.js';
import { listDir, readLine, readText } from './fs.js';
import { HAILO_IDENTIFY_CACHE_PATH, type HailoIdentity, parseHailoIdentify } from './hailo-identify.js';
import { type KnownDevices, knownDevices } from './known-devices.js';

/**
 * Hailo detection. One device shows up through several paths — its PCI function, the
 * hailo_pci driver's `hailo_chardev` sysfs entry, a /dev node and the cached identify
 * output — so evidence is merged into one candidate per device (keyed by PCI address)
 * before a kind is decided, and a device is never counted twice.
 *
 * How the kind is decided:
 * - PCI `1e60:45c4`, or a `/dev/h1x-N` node (only the hailo1x_pci driver of HailoRT 5.3+
 *   creates those), is a Hailo-10H, whatever node name the driver gave it.
 * - PCI `1e60:2864` is a Hailo-8 or a Hailo-8L: they share the id, and only the device
 *   architecture tells them apart. It comes from the cached `hailortcli fw-control
 *   identify` output, or from the sysfs `accelerator_type` file if that ever names the
 *   chip (today's drivers print an enum number there, `0` for an NNC, which says nothing).
 * - Without an architecture a 2864 device is reported as `hailo8l`, because the 13 TOPS
 *   AI Kit / AI HAT+ is by far the most common Hailo on a Pi; its `source` says
 *   `architecture unknown, assumed hailo8l`, so the guess is visible and the operator can
 *   fix it by providing the identify cache.
 * - A `/dev/hailoN` node with no PCI or sysfs evidence is treated the same way.
 */

const HAILO_VENDOR = '1e60';
const HAILO10H_PCI_ID = '1e60:45c4';
const HAILO8_FAMILY_PCI_ID = '1e60:2864';
const PCI_ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;

type HailoKind = 'hailo8l' | 'hailo8' | 'hailo10h';

interface Candidate {
  busLocation?: string;
  pciId?: string;
  device?: string;
  evidence: string[];
  /** Architecture named by sysfs `accelerator_type`, if it names one. */
  sysfsArchitecture?: string;
  identity?: HailoIdentity;
}

const KIND_BY_ARCHITECTURE: Readonly<Record<string, HailoKind>> = { HAILO8L: 'hailo8l', HAILO8: 'hailo8', HAILO10H: 'hailo10h' };

/** Finds Hailo accelerators from the bus scan, the hailo_chardev sysfs class and the identify cache. */
export async function detectHailo(hwRoot: string, scan: BusScan, known: KnownDevices = knownDevices()): Promise<Accelerator[]> {
  const candidates: Candidate[] = scan.pci
    .filter((f) => f.vendor === HAILO_VENDOR)
    .map((f) => ({ busLocation: f.address, pciId: `${f.vendor}:${f.device}`, evidence: [`pci-id ${f.vendor}:${f.device}`] }));

  await mergeChardevs(hwRoot, candidates, known);
  claimDevNodes(scan.devNodes, candidates);

  const identifyText = await readText(hwRoot, HAILO_IDENTIFY_CACHE_PATH);
  const identities = identifyText === null ? [] : parseHailoIdentify(identifyText);
  for (const identity of identities) {
    const byAddress = candidates.find((c) => c.busLocation !== undefined && c.busLocation === identity.location);
    // Without an address on one side, only a lone device and a lone identity can pair up.
    const only = candidates.length === 1 && identities.length === 1 ? candidates[0] : undefined;
    const target = byAddress ?? (only !== undefined && (identity.location === undefined || only.busLocation === undefined) ? only : undefined);
    // An identity matching no device present now, or naming an architecture the device's
    // PCI id rules out, is a stale cache (a HAT removed or swapped): its serial and
    // firmware version belong to another device, so none of it is used.
    if (target !== undefined && fits(target, identity)) target.identity = identity;
  }

  const drivers = await readDriverVersions(hwRoot);
  return candidates.flatMap((c) => {
    const accelerator = toAccelerator(c);
    if (accelerator === null) return [];
    const driverVersion = accelerator.kind === 'hailo10h' && c.device?.startsWith('/dev/h1x-') === true ? drivers.hailo1x : drivers.hailo;
    if (driverVersion !== null) accelerator.driverVersion = driverVersion;
    return [accelerator];
  });
}

/** A kernel module's version string worth a label: `4.23.0`, `5.3.0-rc1`. */
const MODULE_VERSION = /^\d{1,4}(\.\d{1,4}){1,3}(-[0-9A-Za-z.]{1,16})?$/;

/**
 * The HailoRT drivers' versions, from `/sys/module/<module>/version` (MODULE_VERSION in
 * hailort-drivers): `hailo_pci` serves the 8 family (and a 10H with older drivers),
 * `hailo1x_pci` the 10H with HailoRT 5.3+. Read at every probe: a driver upgrade (the
 * fleet's riskiest event) shows in the labels after the module reloads.
 */
async function readDriverVersions(hwRoot: string): Promise<{ hailo: string | null; hailo1x: string | null }> {
  const version = async (module: string): Promise<string | null> => {
    const v = await readLine(hwRoot, `sys/module/${module}/version`);
    return v !== null && MODULE_VERSION.test(v) ? v : null;
  };
  const [hailo, hailo1x] = await Promise.all([version('hailo_pci'), version('hailo1x_pci')]);
  return { hailo, hailo1x };
}

/** False when the identity's architecture cannot be the candidate's chip. */
function fits(c: Candidate, identity: HailoIdentity): boolean {
  const kind = identity.architecture === undefined ? undefined : KIND_BY_ARCHITECTURE[identity.architecture];
  if (kind === undefined) return true;
  if (isHailo10h(c)) return kind === 'hailo10h';
  if (c.pciId === HAILO8_FAMILY_PCI_ID) return kind === 'hailo8' || kind === 'hailo8l';
  return true;
}

/** The PCI id or an h1x node (made only by hailo1x_pci) names a Hailo-10H. */
function isHailo10h(c: Candidate): boolean {
  return c.pciId === HAILO10H_PCI_ID || c.device?.startsWith('/dev/h1x-') === true;
}

/** Merges the hailo_pci driver's `sys/class/hailo_chardev/hailoN/*` files into the candidates. */
async function mergeChardevs(hwRoot: string, candidates: Candidate[], known: KnownDevices): Promise<void> {
  const names = await listDir(hwRoot, 'sys/class/hailo_chardev');
  known.hailoChardevs.retain(names);
  for (const name of names) {
    if (!/^hailo\d{1,4}$/.test(name)) continue;
    const dir = `sys/class/hailo_chardev/${name}`;
    const lines = await known.hailoChardevs.get(name, async () => ({
      boardLocation: await readLine(hwRoot, `${dir}/board_location`),
      deviceId: await readLine(hwRoot, `${dir}/device_id`),
      acceleratorType: await readLine(hwRoot, `${dir}/accelerator_type`),
    }));
    const location = lines.boardLocation?.toLowerCase();
    const busLocation = location !== undefined && PCI_ADDRESS.test(location) ? location : undefined;
    // The driver prints `%x:%x`, so a leading zero may be missing; pad to 4 digits.
    const idMatch = lines.deviceId?.match(/^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i);
    const pciId =
      idMatch?.[1] !== undefined && idMatch[2] !== undefined ? `${idMatch[1].padStart(4, '0')}:${idMatch[2].padStart(4, '0')}`.toLowerCase() : undefined;
    const type = lines.acceleratorType?.toUpperCase();

    let target = busLocation === undefined ? undefined : candidates.find((c) => c.busLocation === busLocation);
    if (target === undefined) {
      target = { evidence: [], ...(busLocation === undefined ? {} : { busLocation }), ...(pciId === undefined ? {} : { pciId }) };
      candidates.push(target);
    }
    target.device = `/dev/${name}`;
    target.evidence.push(`sysfs hailo_chardev/${name}`);
    if (type !== undefined && KIND_BY_ARCHITECTURE[type] !== undefined) target.sysfsArchitecture = type;
  }
}

/**
 * Gives each candidate without a node the lowest free /dev node its driver would create:
 * a 10H prefers `h1x-N` (hailo1x_pci) and falls back to `hailoN` (older drivers); the
 * 8 family only ever has `hailoN`. Nodes left over become device-only candidates.
 */
function claimDevNodes(devNodes: readonly string[], candidates: Candidate[]): void {
  const claimed = new Set(candidates.map((c) => c.device));
  const free = (prefix: string): string[] => indexedNodes(devNodes, prefix).filter((n) => !claimed.has(`/dev/${n}`));
  const claim = (c: Candidate, name: string): void => {
    c.device = `/dev/${name}`;
    c.evidence.push(c.device);
    claimed.add(c.device);
  };
  const unplaced = candidates.filter((c) => c.device === undefined).sort((a, b) => compareText(a.busLocation ?? '', b.busLocation ?? ''));
  for (const c of unplaced) {
    const name = c.pciId === HAILO10H_PCI_ID ? (free('h1x-')[0] ?? free('hailo')[0]) : free('hailo')[0];
    if (name !== undefined) claim(c, name);
  }
  for (const name of [...free('h1x-'), ...free('hailo')]) {
    const c: Candidate = { evidence: [] };
    claim(c, name);
    candidates.push(c);
  }
}

function toAccelerator(c: Candidate): Accelerator | null {
  const decided = decideKind(c);
  const device = c.device ?? (c.busLocation === undefined ? undefined : `pci:${c.busLocation}`);
  if (decided === null || device === undefined) return null;
  const evidence = decided.evidence === undefined ? c.evidence : [...c.evidence, decided.evidence];
  const source = evidence.join(' + ') + (decided.note === undefined ? '' : ` (${decided.note})`);
  const accelerator: Accelerator = { kind: decided.kind, device, source };
  if (c.pciId !== undefined) accelerator.pciId = c.pciId;
  if (c.busLocation !== undefined) accelerator.busLocation = c.busLocation;
  if (c.identity?.serial !== undefined) accelerator.serial = c.identity.serial;
  if (c.identity?.firmwareVersion !== undefined) accelerator.firmwareVersion = c.identity.firmwareVersion;
  return accelerator;
}

/** A decided kind, with the evidence that named the architecture or a note on the assumption. */
interface Decision {
  kind: HailoKind;
  evidence?: string;
  note?: string;
}

/** Decides the kind (see the module comment); null for a Hailo device we cannot name. */
function decideKind(c: Candidate): Decision | null {
  // The evidence list already says what named the 10H (PCI id or h1x node).
  if (isHailo10h(c)) return { kind: 'hailo10h' };

  const fromIdentify = c.identity?.architecture;
  const architecture = fromIdentify ?? c.sysfsArchitecture;
  const said = architecture === undefined ? undefined : KIND_BY_ARCHITECTURE[architecture];
  const evidence = fromIdentify !== undefined ? `hailortcli identify (${fromIdentify})` : `sysfs accelerator_type (${architecture})`;
  if (c.pciId === HAILO8_FAMILY_PCI_ID || c.pciId === undefined) {
    // A 2864 device is the 8 family whatever a (stale) sysfs value says; a bare /dev
    // node takes any architecture named.
    if (said === 'hailo8' || said === 'hailo8l' || (c.pciId === undefined && said !== undefined)) return { kind: said, evidence };
    return { kind: 'hailo8l', note: 'architecture unknown, assumed hailo8l' };
  }
  // A Hailo PCI id we do not know (a future chip): only a named architecture counts.
  return said === undefined ? null : { kind: said, evidence };
}
