import { type Accelerator, assertValidLabel, type HardwareFacts } from '@edgefleet/protocol';

/** Options of {@link labelsFromFacts}. */
export interface LabelOptions {
  /** The node's site (`--site`), published as `geolocation.site`. */
  site?: string;
}

const GIB = 1024 ** 3;

/**
 * The labels a node reports about itself, derived from its hardware facts. The key set is
 * fixed (`DETECTED_LABEL_KEYS` in the protocol); `firmware.version`, `geolocation.site`,
 * `memory.gb`, `ai.driver.version` and `ai.firmware.version` are left out when unknown rather than given a placeholder, so a
 * selector such as `memory.gb>=8` never matches a node whose memory is unknown.
 *
 * @throws EdgefleetError `invalid_label` when `site` is not a valid label value.
 */
export function labelsFromFacts(facts: HardwareFacts, opts: LabelOptions): Record<string, string> {
  const primary = primaryAccelerator(facts.accelerators);
  const labels: Record<string, string> = {
    // Any accelerator counts, a USB stick too: the label means "can run accelerated models".
    'hardware.ai-hat': primary === undefined ? 'false' : 'true',
    'ai.accelerator': primary?.kind ?? 'none',
    'cpu.arch': facts.cpu.arch,
    'board.model': facts.board.slug,
  };
  if (facts.firmware.version !== null) labels['firmware.version'] = facts.firmware.version;
  if (opts.site !== undefined && opts.site !== '') labels['geolocation.site'] = opts.site;
  if (facts.memoryBytes !== null) labels['memory.gb'] = String(Math.round(facts.memoryBytes / GIB));
  // The primary accelerator's driver and firmware, so a rollout can target (or avoid) a
  // driver release: driver upgrades are the fleet's riskiest event. Absent when unknown.
  if (primary?.driverVersion !== undefined) labels['ai.driver.version'] = primary.driverVersion;
  if (primary?.firmwareVersion !== undefined) labels['ai.firmware.version'] = primary.firmwareVersion;
  // Facts come from the probe, but a server rejects the whole enrollment for one bad
  // value, so fail here, naming the label, instead.
  for (const [key, value] of Object.entries(labels)) assertValidLabel(key, value);
  return labels;
}

/**
 * The accelerator workloads are scheduled for: a PCIe one (HAT, M.2) over a USB stick,
 * since it is the faster and the one a node was provisioned with; ties go to probe order.
 */
export function primaryAccelerator(accelerators: readonly Accelerator[]): Accelerator | undefined {
  return accelerators.find((a) => a.kind !== 'coral-usb') ?? accelerators[0];
}
