import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/** Every folder and file under `dir`, with its permission bits (octal). */
function modes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (path: string, rel: string): void => {
    const st = statSync(path);
    out.set(rel, (st.mode & 0o777).toString(8));
    if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), rel === '.' ? name : `${rel}/${name}`);
  };
  walk(dir, '.');
  return out;
}

/**
 * Issue 14, low item: the agent's data dir holds the node's private key and pins; no other
 * user of the machine may read it. Before the fix the key was 0600 but the dir (from
 * mkdir -p or an older agent) and the other files were world-readable, and stayed so.
 */
describe("the agent's data dir is private", () => {
  let fleet: TestFleet;
  let dataDir: string;

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    dataDir = join(fleet.dir, 'old-agent');
    // What an older agent, or an operator's mkdir and copy, left behind.
    mkdirSync(join(dataDir, 'telemetry'), { recursive: true });
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'telemetry'), 0o777);
    writeFileSync(join(dataDir, 'notes.txt'), 'left over', { mode: 0o644 });
    writeFileSync(join(dataDir, 'telemetry', 'old.json'), '{}', { mode: 0o666 });
    const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken(), dataDir });
    await eventually(() => a.agent.state.lastHeartbeatAt !== undefined && a.agent.state.nodeId, 20_000, 'node enrolled');
  }, 60_000);
  afterAll(async () => {
    await fleet?.close();
  });

  it('fixes existing world-readable files and folders at start, and writes the identity 0600', () => {
    const all = modes(dataDir);
    expect(all.get('.')).toBe('700');
    expect(all.get('telemetry')).toBe('700');
    expect(all.get('notes.txt')).toBe('600');
    expect(all.get('telemetry/old.json')).toBe('600');
    const identity = [...all].filter(([path]) => /^(identity\.json|ca\.crt|node-[0-9a-f]+\.(key|crt)|release-keys\.json)$/.test(path));
    expect(identity.map(([path]) => path)).toEqual(expect.arrayContaining(['identity.json', 'ca.crt']));
    for (const [path, mode] of identity) expect(mode, path).toBe('600');
    // No folder anywhere in it is open to others.
    for (const [path, mode] of all) if (statSync(join(dataDir, path)).isDirectory()) expect(mode, path).toBe('700');
  });
});
