import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/context.js';
import { listDeploymentViews } from '../../src/deployments/service.js';
import { openStore, type Store } from '../../src/store/index.js';
import { FleetLatestValues } from '../../src/telemetry/latest-values.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A store that counts calls per method, to find reads repeated per list item. */
function counting(store: Store): { store: Store; calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string') return value;
      return (...args: unknown[]) => {
        calls.set(prop, (calls.get(prop) ?? 0) + 1);
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

async function fleetStore(): Promise<Store> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-views-'));
  dirs.push(dir);
  const store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
  for (const id of ['n1', 'n2', 'n3']) {
    await store.createNode({
      id,
      name: id,
      hardwareSerial: null,
      detectedLabels: { 'cpu.arch': 'arm64' },
      operatorLabels: {},
      facts: {},
      certSerial: '',
      certNotAfter: 0,
      lastSeen: null,
      createdAt: 1,
    });
    await store.acceptMetrics(id, { stream: 's', seq: 1 }, 5, [{ name: 'temp', labels: { node: id }, kind: 'gauge', value: 40, t: 5 }], []);
  }
  for (const name of ['a', 'b', 'c', 'd']) {
    await store.writeDeployments(
      [
        {
          deployment: { name, spec: { selector: 'cpu.arch=arm64' } as never, generation: 1, revision: 1, source: null, createdAt: 1, updatedAt: 1 },
          newRevision: { deployment: name, revision: 1, release: { version: '1' } as never, releaseDigest: name, commit: null, createdAt: 1 },
        },
      ],
      [],
    );
  }
  return store;
}

describe('list reads', () => {
  it('GET /v1/deployments reads nodes and workload reports once for the whole list', async () => {
    const base = await fleetStore();
    try {
      const { store, calls } = counting(base);
      const ctx = {
        store,
        clock: () => 10,
        heartbeatIntervalMs: 10_000,
        log: pino({ level: 'silent' }),
        events: new EventEmitter(),
      } as unknown as ServerContext;
      const { items } = await listDeploymentViews(ctx);
      expect(items.map((d) => d.metadata.name)).toEqual(['a', 'b', 'c', 'd']);
      expect(items[0]?.status.nodes).toHaveLength(3);
      expect(calls.get('listNodes')).toBe(1);
      expect(calls.get('listNodeWorkloads')).toBe(1);
    } finally {
      await base.close();
    }
  });

  it('GET /v1/telemetry/latest reads every node’s telemetry in one query, not one per node', async () => {
    const base = await fleetStore();
    try {
      const { store, calls } = counting(base);
      const latest = await new FleetLatestValues({ store }).read('temp');
      expect(latest.items.map((x) => x.nodeId)).toEqual(['n1', 'n2', 'n3']);
      expect(calls.get('getNodeTelemetry')).toBeUndefined();
      expect(calls.get('listNodeTelemetry')).toBe(1);
    } finally {
      await base.close();
    }
  });
});
