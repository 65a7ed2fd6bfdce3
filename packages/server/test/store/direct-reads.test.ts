import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkloadStatus } from '@edgefleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { NodeRecord, Store } from '../../src/store/index.js';
import { openStore } from '../../src/store/open.js';

function nodeRecord(id: string): NodeRecord {
  return {
    id,
    name: id,
    hardwareSerial: null,
    detectedLabels: { 'cpu.arch': 'arm64' },
    operatorLabels: {},
    facts: { model: 'Raspberry Pi 5' },
    certSerial: 'serial-1',
    certNotAfter: 1_000,
    lastSeen: null,
    createdAt: 0,
  };
}

describe('the hot-path reads run directly on SQLite, on a connection of their own', () => {
  let dir = '';
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function open(): Promise<Store> {
    dir = mkdtempSync(join(tmpdir(), 'edgefleet-direct-reads-'));
    store = await openStore('', join(dir, 'fleet.db'));
    return store;
  }

  it('never see a transaction’s uncommitted writes, and see them once it commits', async () => {
    const s = await open();
    await s.createNode(nodeRecord('n1'));
    await s.recordCertificate({ serial: 'c1', nodeId: 'n1', issuedAt: 0, notAfter: 1_000, revokedAt: null, fingerprint: 'f1' });
    await s.transaction(async (tx) => {
      await tx.decommissionNode('n1', 500);
      // The transaction sees its own writes…
      expect(await tx.getNode('n1')).toBeUndefined();
      // …and an agent request authenticated meanwhile reads what is committed: the node,
      // its certificate not yet revoked (a decommission that rolled back never happened).
      expect((await s.getNode('n1'))?.facts).toEqual({ model: 'Raspberry Pi 5' });
      expect((await s.getCertificateByFingerprint('f1'))?.revokedAt).toBeNull();
    });
    expect(await s.getNode('n1')).toBeUndefined();
    expect((await s.getCertificateByFingerprint('f1'))?.revokedAt).toBe(500);
  });

  it('read a node’s workload statuses as written, and another node’s not at all', async () => {
    const s = await open();
    await s.createNode(nodeRecord('n1'));
    await s.createNode(nodeRecord('n2'));
    const status: WorkloadStatus = {
      deployment: 'detector',
      revision: 3,
      state: 'running',
      reason: null,
      message: null,
      endpoint: 'http://127.0.0.1:8080',
      active: 'primary',
      servingRevision: 3,
      heldRevisions: [2, 3],
    };
    await s.replaceNodeWorkloads('n1', [status], 42);
    expect(await s.listNodeWorkloads({ nodeId: 'n1' })).toEqual([{ nodeId: 'n1', status, updatedAt: 42 }]);
    expect(await s.listNodeWorkloads({ nodeId: 'n2' })).toEqual([]);
  });
});
