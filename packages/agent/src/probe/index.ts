/**
 * The agent's hardware probe: what a node is (board, CPU, memory, firmware, thermal state,
 * AI accelerators) and the labels it reports from that. Fixture folders that emulate
 * hardware are test tooling: `@edgefleet/agent/fixtures`.
 */
export { HAILO_IDENTIFY_CACHE_PATH, type HailoIdentity, parseHailoIdentify } from './hailo-identify.js';
export { type LabelOptions, labelsFromFacts, primaryAccelerator } from './labels.js';
export { HardwareProbe, type ProbeOptions, probeHardware } from './probe.js';
export { decodeRevisionCode, type RevisionFields, slugFromModel } from './revision-code.js';
export { THROTTLED_CACHE_PATH, THROTTLED_SYSFS_PATH } from './thermal.js';
