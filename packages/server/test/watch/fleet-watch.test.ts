/**
 * What the dashboard's watch sends after one tick, over a real SQLite store: exactly the
 * nodes whose view changed, each with what changed, and nothing for the others. Each tick
 * reads whole node records (facts included) only of the nodes that changed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node } from '@edgefleet/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/context.js';
import { type NodeRecord, openStore, type Store } from '../../src/store/index.js';
import { diffSnapshots, readSnapshot, type Snapshot } from '../../src/watch/fleet-watch.js';

const T0 = 1_700_000_000_000;
const HEARTBEAT_MS = 60_000;

function node(id: string): NodeRecord {
  return {
    id,
    name: id,
    hardwareSerial: null,
    detectedLabels: { 'cpu.arch': 'arm64' },
    operatorLabels: { 'geolocation.site': 'north' },
    facts: { board: { model: 'Raspberry Pi 5' } },
    certSerial: `cert-${id}`,
    certNotAfter: T0 + 86_400_000,
    lastSeen: T0,
    createdAt: T0,
  };
}

describe("the dashboard watch's tick", () => {
  let dir: string;
  let store: Store;
  let now: number;
  let ctx: ServerContext;
  let last: Snapshot;
  /** The ids each `listNodesById` call asked for. */
  let readWhole: string[][];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-watch-'));
    store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
    now = T0;
    for (const id of ['n1', 'n2', 'n3']) await store.createNode(node(id));
    readWhole = [];
    const byId = store.listNodesById.bind(store);
    store.listNodesById = (ids) => {
      readWhole.push([...ids]);
      return byId(ids);
    };
    ctx = { store, clock: () => now, heartbeatIntervalMs: HEARTBEAT_MS } as ServerContext;
    last = await readSnapshot(ctx);
    readWhole = [];
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** One tick: the nodes it sent (upserted) and took away (deleted). */
  async function tick(): Promise<{ upserted: Node[]; deleted: string[] }> {
    const next = await readSnapshot(ctx, last);
    const nodes = diffSnapshots(last, next).find((m) => m.event === 'nodes')?.data as { upserted: Node[]; deleted: string[] } | undefined;
    last = next;
    return nodes ?? { upserted: [], deleted: [] };
  }

  it('sends nothing, and reads no whole record, when nothing changed', async () => {
    expect(await tick()).toEqual({ upserted: [], deleted: [] });
    expect(readWhole).toEqual([[]]);
  });

  it('sends a node that reported new facts, with them and its new last-seen time, and only that node', async () => {
    now += 10_000;
    await store.recordHeartbeat('n2', undefined, { board: { model: 'Raspberry Pi 5' }, disk: { freeBytes: 5 } }, now);
    const sent = await tick();
    expect(sent.upserted.map((n) => n.id)).toEqual(['n2']);
    expect(sent.upserted[0]?.facts).toEqual({ board: { model: 'Raspberry Pi 5' }, disk: { freeBytes: 5 } });
    expect(sent.upserted[0]?.lastSeen).toBe(new Date(now).toISOString());
    expect(readWhole).toEqual([['n2']]);
  });

  it('sends a relabelled node with its new labels, though it did not report', async () => {
    await store.setOperatorLabels('n1', { 'geolocation.site': 'south', rack: 'r7' });
    const sent = await tick();
    expect(sent.upserted.map((n) => [n.id, n.site, n.labels.rack])).toEqual([['n1', 'south', 'r7']]);
  });

  it('sends a node whose certificate was renewed', async () => {
    const renewed = (await store.getNode('n3')) as NodeRecord;
    await store.updateNode({ ...renewed, certSerial: 'cert-n3-2', certNotAfter: T0 + 2 * 86_400_000 });
    const sent = await tick();
    expect(sent.upserted.map((n) => [n.id, n.certificate.serial])).toEqual([['n3', 'cert-n3-2']]);
  });

  it('sends every node that went offline with time alone, and not again on the next tick', async () => {
    now += 3_600_000;
    await store.recordHeartbeat('n1', undefined, undefined, now);
    const sent = await tick();
    expect(sent.upserted.map((n) => [n.id, n.status])).toEqual([
      ['n1', 'online'],
      ['n2', 'offline'],
      ['n3', 'offline'],
    ]);
    expect(await tick()).toEqual({ upserted: [], deleted: [] });
  });

  it('takes away a decommissioned node', async () => {
    await store.decommissionNode('n2', now);
    expect(await tick()).toEqual({ upserted: [], deleted: ['n2'] });
  });
});
