/**
 * A fleet written straight into a store for the benches that time one server pass over it
 * (bench/controller-pass.ts, bench/watch-tick.ts): N nodes in N/100 sites, each with about a
 * kilobyte of facts shaped as agents report them.
 */
import type { NodeRecord, Store } from '../../packages/server/src/store/index.js';

/** One site per hundred nodes, as bench:fleet spreads them. */
export function sitesOf(nodes: number): number {
  return Math.max(1, Math.round(nodes / 100));
}

/** About a kilobyte of facts, shaped as an agent reports them. */
function benchFacts(i: number): Record<string, unknown> {
  return {
    board: { model: 'Raspberry Pi 5 Model B Rev 1.0', serial: `10000000${i.toString(16).padStart(8, '0')}`, memoryBytes: 8_589_934_592 },
    os: { name: 'Debian GNU/Linux 12 (bookworm)', kernel: '6.6.51+rpt-rpi-2712', arch: 'arm64' },
    accelerators: [{ kind: 'hailo8l', device: '/dev/hailo0', firmware: '4.18.0', pcie: '0000:01:00.0', temperatureC: 48.5 }],
    containers: { engine: 'podman', version: '4.3.1', runtime: 'runc', rootless: false },
    confinement: { workloadUser: 'edgefleet-workload', seccomp: true, noNewPrivileges: true },
    releaseKeys: { source: 'server', fingerprints: ['sha256:3f0c9d1e2a7b4c5d6e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d'] },
    disk: { dataBytes: 31_000_000_000, freeBytes: 22_400_000_000 },
    agent: { version: '0.1.0', node: '20.20.2' },
  };
}

function benchNode(i: number, sites: number, at: number): NodeRecord {
  const id = `node-${String(i).padStart(5, '0')}`;
  return {
    id,
    name: id,
    hardwareSerial: null,
    detectedLabels: { 'cpu.arch': 'arm64', 'hardware.ai-hat': 'true', 'ai.accelerator': i % 4 === 0 ? 'hailo8' : 'hailo8l', 'firmware.version': '4.18.0' },
    operatorLabels: { 'geolocation.site': `site-${i % sites}` },
    facts: benchFacts(i),
    certSerial: `cert-${id}`,
    certNotAfter: at + 365 * 86_400_000,
    lastSeen: at,
    createdAt: at,
  };
}

/** Writes `nodes` nodes, all seen at `at`, and returns their ids in order. */
export async function seedFleet(store: Store, nodes: number, at: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < nodes; i++) {
    const n = benchNode(i, sitesOf(nodes), at);
    ids.push(n.id);
    await store.createNode(n);
  }
  return ids;
}
