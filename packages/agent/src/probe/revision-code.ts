/**
 * Raspberry Pi revision codes (the `Revision` line of /proc/cpuinfo). New-style codes
 * (bit 23 set) are bit fields; we decode the fields and never match whole codes, so a
 * new PCB revision or factory of a known board still decodes (raspberrypi/documentation,
 * "Best practices for revision code usage").
 */

/** The fields of a new-style revision code the probe uses. */
export interface RevisionFields {
  /** Board type, bits 4–11 (0x17 = Pi 5). */
  type: number;
  /** Board slug for the `board.model` label, or null for a type we do not name. */
  slug: string | null;
  /** RAM in bytes from bits 20–22, or null for the "other" size (7). */
  memoryBytes: number | null;
}

/**
 * Board types we name, by the type field. Variants that run the same software (3B, 3B+,
 * 3A+; CM5 and CM5 Lite) share a slug, because the label is for scheduling workloads.
 */
const SLUG_BY_TYPE: ReadonlyMap<number, string> = new Map([
  [0x04, 'raspberrypi2'],
  [0x08, 'raspberrypi3'],
  [0x0a, 'cm3'],
  [0x0d, 'raspberrypi3'],
  [0x0e, 'raspberrypi3'],
  [0x10, 'cm3'],
  [0x11, 'raspberrypi4'],
  [0x12, 'raspberrypizero2'],
  [0x13, 'raspberrypi400'],
  [0x14, 'cm4'],
  [0x15, 'cm4s'],
  [0x17, 'raspberrypi5'],
  [0x18, 'cm5'],
  [0x19, 'raspberrypi500'],
  [0x1a, 'cm5'],
]);

const GIB = 1024 ** 3;

/**
 * Decodes a revision code given as hex text (`d04170`). Returns null for malformed text
 * and for old-style codes (bit 23 clear), whose fields mean nothing: callers then fall
 * back to the model string.
 */
export function decodeRevisionCode(code: string): RevisionFields | null {
  if (!/^[0-9a-fA-F]{1,8}$/.test(code)) return null;
  const value = Number.parseInt(code, 16);
  if ((value & (1 << 23)) === 0) return null;
  const type = (value >>> 4) & 0xff;
  const memoryField = (value >>> 20) & 0x7;
  // 0 = 256 MB, each step doubles; 7 means "other" (see rpi-sdram-size-gbit), so unknown.
  const memoryBytes = memoryField === 7 ? null : (GIB / 4) * 2 ** memoryField;
  return { type, slug: SLUG_BY_TYPE.get(type) ?? null, memoryBytes };
}

/** Model-string patterns, most specific first (`Raspberry Pi 500` before `Raspberry Pi 5`). */
const SLUG_BY_MODEL: ReadonlyArray<readonly [RegExp, string]> = [
  [/Compute Module 5\b/, 'cm5'],
  [/Compute Module 4S\b/, 'cm4s'],
  [/Compute Module 4\b/, 'cm4'],
  [/Compute Module 3\b/, 'cm3'],
  [/Raspberry Pi 500\b/, 'raspberrypi500'],
  [/Raspberry Pi 400\b/, 'raspberrypi400'],
  [/Raspberry Pi 5\b/, 'raspberrypi5'],
  [/Raspberry Pi 4\b/, 'raspberrypi4'],
  [/Raspberry Pi 3\b/, 'raspberrypi3'],
  [/Raspberry Pi 2\b/, 'raspberrypi2'],
  [/Raspberry Pi Zero 2\b/, 'raspberrypizero2'],
];

/** Derives the board slug from a model string (`Raspberry Pi 5 Model B Rev 1.0`), or null. */
export function slugFromModel(model: string): string | null {
  for (const [pattern, slug] of SLUG_BY_MODEL) if (pattern.test(model)) return slug;
  return null;
}
