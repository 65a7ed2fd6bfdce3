import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/main.js';

const MANIFEST = `apiVersion: edgefleet.dev/v1
kind: Deployment
metadata:
  name: detect
spec:
  selector: cpu.arch=arm64
  release:
    version: "1.0.0"
    model: {artifact: "sha256:${'ab'.repeat(32)}", format: other}
    runtime: {kind: process, command: /usr/bin/true, accelerator: none}
`;

const FLEET = 'c'.repeat(64);

describe('edgefleet release sign', () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('signs in place, keeping the file mode and leaving no temp file behind', async () => {
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-sign-'));
    dirs.push(dir);
    const key = join(dir, 'release');
    const file = join(dir, 'detect.yaml');
    expect(await main(['node', 'edgefleet', 'keys', 'generate', '--out', key])).toBe(0);
    writeFileSync(file, MANIFEST);
    chmodSync(file, 0o640);

    expect(await main(['node', 'edgefleet', 'release', 'sign', '-f', file, '--key', `${key}.key`, '--fleet', FLEET])).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/signature:/);
    // The signature names the fleet, the deployment and when it was signed (issue 14, finding 7).
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`fleet: ${FLEET}`);
    expect(text).toContain('deployment: detect');
    expect(text).toMatch(/signedAt: "?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/);
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir).sort()).toEqual(['detect.yaml', 'release.key', 'release.pub']);
  });

  it('refuses a --fleet that is not a CA fingerprint', async () => {
    vi.spyOn(process.stdout, 'write').mockReturnValue(true);
    const stderr = vi.spyOn(process.stderr, 'write').mockReturnValue(true);
    const dir = mkdtempSync(join(tmpdir(), 'edgefleet-sign-'));
    dirs.push(dir);
    const key = join(dir, 'release');
    const file = join(dir, 'detect.yaml');
    expect(await main(['node', 'edgefleet', 'keys', 'generate', '--out', key])).toBe(0);
    writeFileSync(file, MANIFEST);
    expect(await main(['node', 'edgefleet', 'release', 'sign', '-f', file, '--key', `${key}.key`, '--fleet', 'lab'])).not.toBe(0);
    expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toMatch(/not a CA fingerprint/);
    expect(readFileSync(file, 'utf8')).toBe(MANIFEST);
  });
});
