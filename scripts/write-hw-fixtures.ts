/**
 * Writes every hardware preset to `examples/hardware/<preset>/` (or under the folder given
 * as the first argument), replacing what was there, so that
 * `edgefleet agent --hw-root examples/hardware/pi5-hailo8l …` runs against known hardware.
 * Serials and readings are the presets' fixed defaults; a test checks the committed trees
 * still match what this writes.
 *
 *   npx tsx scripts/write-hw-fixtures.ts
 *
 * Without tsx: `npx tsc --outDir /tmp/hwfix --module nodenext --target es2022 --types node
 * scripts/write-hw-fixtures.ts && node /tmp/hwfix/scripts/write-hw-fixtures.js`, run from
 * the repository root.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { HARDWARE_PRESETS, writeHardwareFixture } from '../packages/agent/src/fixtures/hardware/fixture.js';

const outDir = path.resolve(process.argv[2] ?? 'examples/hardware');
for (const preset of HARDWARE_PRESETS) {
  const dir = path.join(outDir, preset);
  // Start clean so a file a preset no longer writes does not linger in the example.
  await rm(dir, { recursive: true, force: true });
  await writeHardwareFixture(dir, preset);
  console.log(`wrote ${path.relative(process.cwd(), dir)}`);
}
