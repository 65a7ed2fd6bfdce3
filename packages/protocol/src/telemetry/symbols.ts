/**
 * The static symbol table of the telemetry wire format: strings both node and server know,
 * so a batch refers to them by a one-byte index instead of spelling them out (the idea of
 * HPACK's static table). On a metered link the metric names alone would otherwise be most of
 * every upload.
 *
 * Invariant: a published table version never changes. Queued batches written by an agent
 * months ago must decode on today's server, and an index means the same string forever. A
 * new standard string goes into a new version that starts with every entry of the previous
 * one (append-only), so a server that knows version N decodes batches of every version ≤ N.
 * The test "static symbol table v1 is frozen" fails when v1 is edited.
 */

/** Version of the binary metrics format (`docs/TELEMETRY.md`, "Wire format"). */
export const TELEMETRY_WIRE_VERSION = 1;

/** The metric names the agent emits (see issue 5). */
export const STANDARD_METRIC_NAMES = Object.freeze([
  'edgefleet_node_cpu_usage_ratio',
  'edgefleet_node_load1',
  'edgefleet_node_load5',
  'edgefleet_node_load15',
  'edgefleet_node_memory_used_bytes',
  'edgefleet_node_memory_total_bytes',
  'edgefleet_node_disk_used_bytes',
  'edgefleet_node_disk_total_bytes',
  'edgefleet_node_temperature_celsius',
  'edgefleet_node_throttled_flags',
  'edgefleet_node_network_receive_bytes_total',
  'edgefleet_node_network_transmit_bytes_total',
  'edgefleet_node_uptime_seconds',
  'edgefleet_inference_request_duration_seconds',
  'edgefleet_inference_requests_total',
  'edgefleet_model_load_failures_total',
  'edgefleet_workload_restarts_total',
  'edgefleet_workload_fallback_active',
  'edgefleet_accelerator_healthy',
  'edgefleet_agent_queue_records',
  'edgefleet_agent_queue_bytes',
  'edgefleet_agent_queue_capacity_bytes',
  'edgefleet_agent_dropped_samples_total',
  'edgefleet_agent_dropped_log_lines_total',
  'edgefleet_agent_uplink_sent_bytes_total',
  'edgefleet_agent_uplink_received_bytes_total',
  'edgefleet_agent_last_upload_timestamp_seconds',
  'edgefleet_agent_log_lines_suppressed_total',
] as const);

/** The label names those metrics carry. */
export const STANDARD_LABEL_NAMES = Object.freeze([
  'deployment',
  'revision',
  'outcome',
  'reason',
  'interface',
  'device',
  'accelerator',
  'workload',
  'stream',
  'le',
] as const);

/** Label values common enough across fleets to be worth a fixed index. */
export const STANDARD_LABEL_VALUES = Object.freeze([
  'ok',
  'error',
  'queue-full',
  'sampled',
  'stdout',
  'stderr',
  'agent',
  'eth0',
  'wlan0',
  'hailo8l',
  'hailo8',
  'hailo10h',
  'coral-pcie',
  'coral-usb',
  'cpu',
  // Interfaces and block devices of a Raspberry Pi: `end0` is the Pi 5's Ethernet on
  // Bookworm, `wwan0` / `ppp0` / `usb0` the cellular modems metered nodes use.
  'end0',
  'wwan0',
  'ppp0',
  'usb0',
  'mmcblk0',
  'nvme0n1',
  'sda',
] as const);

/**
 * Static tables by version (index 0 is version 1). Index 0 of every table is the empty
 * string, the value of a label that is present but empty.
 */
const STATIC_TABLES: readonly (readonly string[])[] = Object.freeze([
  Object.freeze(['', ...STANDARD_METRIC_NAMES, ...STANDARD_LABEL_NAMES, ...STANDARD_LABEL_VALUES]),
]);

/** The newest static table version; the encoder always writes this one. */
export const STATIC_SYMBOL_TABLE_VERSION = STATIC_TABLES.length;

/** The static table of `version`, or `undefined` when this build does not know it (a newer node). */
export function staticSymbolTable(version: number): readonly string[] | undefined {
  return Number.isInteger(version) && version >= 1 ? STATIC_TABLES[version - 1] : undefined;
}

/** String → index in the newest static table, for the encoder. */
export const STATIC_SYMBOL_INDEX: ReadonlyMap<string, number> = new Map(
  (staticSymbolTable(STATIC_SYMBOL_TABLE_VERSION) as readonly string[]).map((s, i) => [s, i]),
);
