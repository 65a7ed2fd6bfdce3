import { type Accelerator, type DegradedCondition, EDGEFLEET_VERSION, type HardwareFacts, type Labels, TELEMETRY_PROFILE_LABEL } from '@edgefleet/protocol';
import { labelsFromFacts } from './labels.js';
import { HardwareProbe } from './probe.js';

/** What the node declares beside what the probe finds. */
interface NodeDeclaration {
  /** Root for every hardware read (`/` on a Pi, a fixture folder in tests). */
  hwRoot: string;
  site?: string | undefined;
  /** Extra labels the node declares about itself. */
  labels?: Labels | undefined;
  /** The telemetry profile, reported as a label. */
  profile?: string | undefined;
  /** How the agent confines workloads and pins release keys, reported with the facts. */
  security?: (() => HardwareFacts['security']) | undefined;
  /** The container engine the agent found at start (`podman`, its version and OCI runtime), or null. */
  containerEngine?: (() => HardwareFacts['containerEngine']) | undefined;
  /** Called with the labels of every observation (the NFD feature file follows them). */
  onLabels?: ((labels: Labels) => void) | undefined;
  /** Local problems the agent runs with (a taken metrics port), reported with the facts while any. */
  degraded?: (() => DegradedCondition[]) | undefined;
}

/**
 * The node as the agent reports it: the probe's facts and the labels made from them and
 * from what the node declares. It remembers the accelerators it saw last, for the planner
 * (fallback when one disappears) and the telemetry.
 */
export class NodeObserver {
  /** Whether the last observation found an AI accelerator (`hardware.ai-hat`). */
  hasAccelerator = false;
  /** The accelerator kinds the last observation found. */
  accelerators: string[] = [];
  /** Device nodes of the accelerators the last observation found (`/dev/hailo0`), for the workloads' groups. */
  acceleratorDevices: string[] = [];
  /** The accelerators the last observation found, for the device nodes a container gets (a Coral USB's bus location). */
  acceleratorFacts: Accelerator[] = [];
  /** Boot-time facts are read once per agent, as once per boot (probe/probe.ts). */
  private readonly probe: HardwareProbe;

  constructor(
    private readonly node: NodeDeclaration,
    /** Called when an accelerator appears or disappears. */
    private readonly onAcceleratorChange: () => void,
  ) {
    this.probe = new HardwareProbe(node.hwRoot, { agentVersion: EDGEFLEET_VERSION });
  }

  /** Probes the hardware and computes the labels to report. */
  async observe(): Promise<{ facts: HardwareFacts; labels: Labels }> {
    const probed = await this.probe.read();
    const security = this.node.security?.();
    const engine = this.node.containerEngine?.();
    const degraded = this.node.degraded?.() ?? [];
    const facts: HardwareFacts = {
      ...probed,
      ...(security === undefined ? {} : { security }),
      ...(engine === undefined ? {} : { containerEngine: engine }),
      // Absent rather than empty when healthy: the facts of a healthy node stay as they were.
      ...(degraded.length === 0 ? {} : { degraded }),
    };
    const labels: Labels = { ...labelsFromFacts(facts, this.node.site === undefined ? {} : { site: this.node.site }), ...(this.node.labels ?? {}) };
    if (this.node.profile !== undefined) labels[TELEMETRY_PROFILE_LABEL] = this.node.profile;
    this.node.onLabels?.(labels);
    this.accelerators = facts.accelerators.map((a) => a.kind);
    this.acceleratorDevices = facts.accelerators.map((a) => a.device);
    this.acceleratorFacts = facts.accelerators;
    // An accelerator that disappears (dead HAT, missing driver) moves workloads to the fallback.
    const hasAccelerator = labels['hardware.ai-hat'] === 'true';
    if (hasAccelerator !== this.hasAccelerator) {
      this.hasAccelerator = hasAccelerator;
      this.onAcceleratorChange();
    }
    return { facts, labels };
  }
}
