import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import type { NodeRecord, Store } from '../../src/store/index.js';
import { openStore } from '../../src/store/open.js';

/**
 * The full node list (read every second by watching dashboards) and the labels-only list
 * (read every second by the rollout controller) parse a node's labels and facts again only
 * when their stored text changed: never stale, and an unchanged node costs no parsing.
 */
let dir = '';
let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const node = (id: string): NodeRecord => ({
  id,
  name: id,
  hardwareSerial: null,
  detectedLabels: { 'ai.accelerator': 'hailo8l' },
  operatorLabels: {},
  facts: { model: 'Raspberry Pi 5', accelerators: [{ kind: 'hailo8l' }] },
  certSerial: `serial-${id}`,
  certNotAfter: 1_000,
  lastSeen: null,
  createdAt: 0,
});

it('lists what is stored now, reusing the parsed labels and facts of nodes whose text did not change', async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgefleet-node-list-'));
  const s = await openStore('', join(dir, 'fleet.db'));
  store = s;
  for (const id of ['n1', 'n2', 'n3']) await s.createNode(node(id));
  const first = new Map((await s.listNodes()).map((n) => [n.id, n]));

  // n1's accelerator died (new detected labels and facts), an operator labelled n2, n3 only heartbeats.
  await s.recordHeartbeat('n1', { 'ai.accelerator': 'none' }, { model: 'Raspberry Pi 5', accelerators: [] }, 100);
  await s.updateNode({ ...(first.get('n2') as NodeRecord), operatorLabels: { 'geolocation.site': 'store-7' } });
  await s.recordHeartbeat('n3', undefined, undefined, 200);
  const second = new Map((await s.listNodes()).map((n) => [n.id, n]));

  expect(second.get('n1')?.detectedLabels).toEqual({ 'ai.accelerator': 'none' });
  expect(second.get('n1')?.facts).toEqual({ model: 'Raspberry Pi 5', accelerators: [] });
  expect(second.get('n1')?.lastSeen).toBe(100);
  expect(second.get('n2')?.operatorLabels).toEqual({ 'geolocation.site': 'store-7' });
  expect(second.get('n3')?.lastSeen).toBe(200);
  // Unchanged text: the same parsed objects as the list before.
  expect(second.get('n3')?.facts).toBe(first.get('n3')?.facts);
  expect(second.get('n2')?.detectedLabels).toBe(first.get('n2')?.detectedLabels);
  expect(second.get('n1')?.facts).not.toBe(first.get('n1')?.facts);
  // The same answers as reading each node alone, and alone too unchanged text is parsed once.
  for (const id of ['n1', 'n2', 'n3']) expect(second.get(id)).toEqual(await s.getNode(id));
  expect((await s.getNode('n3'))?.facts).toBe(second.get('n3')?.facts);
  await s.recordHeartbeat('n3', undefined, { model: 'Raspberry Pi 5', accelerators: [{ kind: 'hailo8' }] }, 250);
  const n3 = await s.getNode('n3');
  expect(n3?.facts).toEqual({ model: 'Raspberry Pi 5', accelerators: [{ kind: 'hailo8' }] });
  expect(n3?.facts).not.toBe(second.get('n3')?.facts);
  expect((await s.getNode('n3'))?.facts).toBe(n3?.facts);
  expect(n3?.detectedLabels).toBe(second.get('n3')?.detectedLabels);

  await s.decommissionNode('n2', 300);
  expect((await s.listNodes()).map((n) => n.id)).toEqual(['n1', 'n3']);
});

it("lists every node's labels and last-seen time without facts, reusing unchanged labels", async () => {
  dir = mkdtempSync(join(tmpdir(), 'edgefleet-node-list-'));
  const s = await openStore('', join(dir, 'fleet.db'));
  store = s;
  for (const id of ['n1', 'n2', 'n3']) await s.createNode(node(id));
  const first = new Map((await s.listNodeLabels()).map((n) => [n.id, n]));
  expect(first.get('n1')).toEqual({
    id: 'n1',
    name: 'n1',
    detectedLabels: { 'ai.accelerator': 'hailo8l' },
    operatorLabels: {},
    lastSeen: null,
    certSerial: 'serial-n1',
  });

  await s.recordHeartbeat('n1', { 'ai.accelerator': 'none' }, { model: 'Raspberry Pi 5', accelerators: [] }, 100);
  await s.setOperatorLabels('n2', { 'geolocation.site': 'store-7' });
  await s.recordHeartbeat('n3', undefined, undefined, 200);
  const second = new Map((await s.listNodeLabels()).map((n) => [n.id, n]));

  expect(second.get('n1')).toMatchObject({ detectedLabels: { 'ai.accelerator': 'none' }, lastSeen: 100 });
  expect(second.get('n2')?.operatorLabels).toEqual({ 'geolocation.site': 'store-7' });
  expect(second.get('n3')?.lastSeen).toBe(200);
  expect(second.get('n3')?.detectedLabels).toBe(first.get('n3')?.detectedLabels);
  expect(second.get('n2')?.detectedLabels).toBe(first.get('n2')?.detectedLabels);
  expect(second.get('n1')?.detectedLabels).not.toBe(first.get('n1')?.detectedLabels);
  expect(second.get('n2')?.operatorLabels).not.toBe(first.get('n2')?.operatorLabels);

  await s.decommissionNode('n2', 300);
  expect((await s.listNodeLabels()).map((n) => n.id)).toEqual(['n1', 'n3']);
});
