/**
 * The agent's hardware probe: what a node is (board, CPU, memory, firmware, thermal state,
 * AI accelerators), the labels it reports from that, and fixture folders that emulate
 * hardware for tests, examples and the fleet simulator.
 */
export { type FixtureOptions, HARDWARE_PRESETS, type HardwarePreset, writeHardwareFixture } from './fixture.js';
export { HAILO_IDENTIFY_CACHE_PATH, type HailoIdentity, parseHailoIdentify } from './hailo-identify.js';
export { type LabelOptions, labelsFromFacts, primaryAccelerator } from './labels.js';
export { HardwareProbe, type ProbeOptions, probeHardware } from './probe.js';
export { decodeRevisionCode, type RevisionFields, slugFromModel } from './revision-code.js';
export { THROTTLED_CACHE_PATH, THROTTLED_SYSFS_PATH } from './thermal.js';
