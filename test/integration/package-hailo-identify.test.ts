import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HAILO_IDENTIFY_CACHE_PATH } from '../../packages/agent/src/probe/hailo-identify.js';
import { HardwareProbe, labelsFromFacts } from '../../packages/agent/src/probe/index.js';

/**
 * Issue 17: the identify cache's producer. The package's oneshot unit runs
 * /usr/lib/edgefleet/hailo-identify (packaging/deb/scripts/hailo-identify), which writes
 * `hailortcli fw-control identify` output where the probe reads it. HailoRT cannot be
 * installed here, so a fake `hailortcli` on PATH prints what the real one prints on an
 * AI HAT+ 26T (docs: /work/shared HARDWARE.md has the 13T's output from HailoRT 4.23; the
 * 26T's differs in the architecture, serial and part number). The cache lands in a fixture
 * hardware root (EDGEFLEET_IDENTIFY_CACHE), and the probe then labels the node hailo8.
 */

const SCRIPT = resolve(import.meta.dirname, '../../packaging/deb/scripts/hailo-identify');
const HAILO8_IDENTIFY = `Executing on device: 0001:01:00.0
Identifying board
Control Protocol Version: 2
Firmware Version: 4.23.0 (release,app,extended context switch buffer)
Logger Version: 0
Board Name: Hailo-8
Device Architecture: HAILO8
Serial Number: HLLWM2B233701148
Part Number: HM218B1C2FAE
Product Name: HAILO-8 AI ACC M.2 M KEY MODULE EXT TEMP
`;
const NO_DRIVER = '[HailoRT] [error] CHECK_SUCCESS failed with status=HAILO_PCIE_DRIVER_NOT_INSTALLED(64)\n';

let work: string;
let hwRoot: string;
let cache: string;

/** A fake hailortcli printing `out` and exiting with `code` for `fw-control identify` only. */
function fakeHailortcli(out: string, code: number): string {
  const bin = mkdtempSync(join(work, 'bin-'));
  writeFileSync(join(bin, 'out.txt'), out);
  writeFileSync(
    join(bin, 'hailortcli'),
    `#!/bin/sh\n[ "$1 $2" = "fw-control identify" ] || { echo "unexpected arguments: $*" >&2; exit 64; }\ncat "${join(bin, 'out.txt')}"\nexit ${code}\n`,
  );
  chmodSync(join(bin, 'hailortcli'), 0o755);
  return bin;
}

function runScript(pathPrefix?: string): { status: number | null; output: string } {
  const r = spawnSync('sh', [SCRIPT], {
    encoding: 'utf8',
    env: { PATH: `${pathPrefix === undefined ? '' : `${pathPrefix}:`}/usr/bin:/bin`, EDGEFLEET_IDENTIFY_CACHE: cache },
  });
  return { status: r.status, output: r.stdout + r.stderr };
}

async function kind(): Promise<string | undefined> {
  const facts = await new HardwareProbe(hwRoot, { agentVersion: 'test' }).read();
  return labelsFromFacts(facts, {})['ai.accelerator'];
}

describe('hailo-identify: the identify cache producer', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'edgefleet-hailo-identify-'));
    hwRoot = join(work, 'hw');
    // A Hailo-8 family device with no identify cache: the probe can only assume hailo8l.
    await writeHardwareFixture(hwRoot, 'cm5-hailo8l');
    cache = join(hwRoot, HAILO_IDENTIFY_CACHE_PATH);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes the identify output atomically where the probe reads it, so a Hailo-8 is labelled hailo8', async () => {
    expect(existsSync(cache)).toBe(false);
    expect(await kind()).toBe('hailo8l');
    const r = runScript(fakeHailortcli(HAILO8_IDENTIFY, 0));
    expect(r.status, r.output).toBe(0);
    expect(readFileSync(cache, 'utf8')).toBe(HAILO8_IDENTIFY);
    expect(statSync(cache).mode & 0o777).toBe(0o644);
    // No temporary file left beside it (the folder also holds the fixture's throttled cache).
    expect(readdirSync(dirname(cache)).filter((name) => name.startsWith('.'))).toEqual([]);
    expect(await kind()).toBe('hailo8');
    const facts = await new HardwareProbe(hwRoot, { agentVersion: 'test' }).read();
    expect(labelsFromFacts(facts, {})['ai.firmware.version']).toBe('4.23.0');
  });

  it('keeps the last good cache and fails when hailortcli fails (driver not loaded)', () => {
    const r = runScript(fakeHailortcli(NO_DRIVER, 1));
    expect(r.status).toBe(1);
    expect(r.output).toContain('HAILO_PCIE_DRIVER_NOT_INSTALLED');
    expect(readFileSync(cache, 'utf8')).toBe(HAILO8_IDENTIFY);
    expect(readdirSync(dirname(cache)).filter((name) => name.startsWith('.'))).toEqual([]);
  });

  it('keeps the last good cache when hailortcli exits 0 without an identity', () => {
    const r = runScript(fakeHailortcli('Identifying board\n', 0));
    expect(r.status).toBe(1);
    expect(readFileSync(cache, 'utf8')).toBe(HAILO8_IDENTIFY);
  });

  it('removes the cache when HailoRT is not installed (nothing to identify), and succeeds', async () => {
    const r = runScript();
    expect(r.status, r.output).toBe(0);
    expect(r.output).toContain('hailortcli not found');
    expect(existsSync(cache)).toBe(false);
    expect(await kind()).toBe('hailo8l');
  });

  it('makes the cache folder when it is missing (first boot, before the unit made /run/edgefleet)', () => {
    rmSync(dirname(cache), { recursive: true, force: true });
    mkdirSync(hwRoot, { recursive: true });
    const r = runScript(fakeHailortcli(HAILO8_IDENTIFY, 0));
    expect(r.status, r.output).toBe(0);
    expect(readFileSync(cache, 'utf8')).toBe(HAILO8_IDENTIFY);
  });
});
