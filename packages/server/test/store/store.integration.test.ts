import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LatencyHistoryRecord, type NodeRecord, openStore, type RegistryRecord, type SourceRecord, type Store } from '../../src/store/index.js';
import { isUniqueViolation } from '../../src/store/sql-store.js';
import { seriesKey } from '../../src/store/telemetry.js';
import { engines } from './engines.js';

function node(id: string, over: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    name: `name-${id}`,
    hardwareSerial: `serial-${id}`,
    detectedLabels: { 'cpu.arch': 'arm64' },
    operatorLabels: {},
    facts: { board: { slug: 'raspberrypi5' } },
    certSerial: `cert-${id}`,
    certNotAfter: 2_000_000_000_000,
    lastSeen: null,
    createdAt: 1_700_000_000_000,
    ...over,
  };
}

// The same behaviour on both engines: each case runs against SQLite and PostgreSQL.
for (const engine of engines) {
  describe(`store on ${engine.name}`, () => {
    let store: Store;
    let cleanup: () => void;
    beforeAll(async () => {
      ({ store, cleanup } = await engine.open());
    });
    afterAll(async () => {
      await store.close();
      cleanup();
    });

    it('commits a unit of work whole, or not at all when it throws', async () => {
      // Its own store: the audit log and node list of the shared one belong to other cases.
      const { store, cleanup } = await engine.open();
      try {
        await store.transaction(async (tx) => {
          await tx.createNode(node('tx-kept'));
          await tx.appendAudit({ at: 1, actor: 'token:t', action: 'node.test', target: 'tx-kept', details: {} });
        });
        expect(await store.getNode('tx-kept')).toBeDefined();
        await expect(
          store.transaction(async (tx) => {
            await tx.createNode(node('tx-lost'));
            // A multi-statement write joins the outer transaction instead of committing alone.
            await tx.setOperatorLabels('tx-lost', { team: 'a' });
            await tx.appendAudit({ at: 2, actor: 'token:t', action: 'node.test', target: 'tx-lost', details: {} });
            throw new Error('fails before commit');
          }),
        ).rejects.toThrow('fails before commit');
        expect(await store.getNode('tx-lost')).toBeUndefined();
        const audit = await store.listAudit(1_000);
        expect(audit.filter((e) => e.target === 'tx-lost')).toEqual([]);
        expect(audit.filter((e) => e.target === 'tx-kept')).toHaveLength(1);
      } finally {
        await store.close();
        cleanup();
      }
    });

    it('keeps the first value of a meta key', async () => {
      expect(await store.setMetaIfAbsent('fleet', 'a')).toBe('a');
      expect(await store.setMetaIfAbsent('fleet', 'b')).toBe('a');
      expect(await store.getMeta('missing')).toBeUndefined();
    });

    it('stores API tokens by hash and counts them by role', async () => {
      await store.createApiToken({
        id: 'aaaaaaaaaaaa',
        role: 'admin',
        name: 'first admin',
        secretHash: 'h1',
        createdAt: 1,
        expiresAt: null,
        lastUsedAt: null,
        sites: null,
      });
      await store.createApiToken({
        id: 'bbbbbbbbbbbb',
        role: 'viewer',
        name: null,
        secretHash: 'h2',
        createdAt: 2,
        expiresAt: 5000,
        lastUsedAt: null,
        sites: ['s1', 's2'],
      });
      expect(await store.getApiToken('aaaaaaaaaaaa')).toEqual({
        id: 'aaaaaaaaaaaa',
        role: 'admin',
        name: 'first admin',
        secretHash: 'h1',
        createdAt: 1,
        expiresAt: null,
        lastUsedAt: null,
        sites: null,
      });
      expect(await store.getApiToken('bbbbbbbbbbbb')).toMatchObject({ expiresAt: 5000, sites: ['s1', 's2'] });
      // Last use is written at most once per interval: a second touch inside it changes nothing.
      await store.touchApiToken('bbbbbbbbbbbb', 1000, 0);
      await store.touchApiToken('bbbbbbbbbbbb', 1500, 1500 - 60_000);
      expect((await store.getApiToken('bbbbbbbbbbbb'))?.lastUsedAt).toBe(1000);
      await store.touchApiToken('bbbbbbbbbbbb', 70_000, 70_000 - 60_000);
      expect((await store.getApiToken('bbbbbbbbbbbb'))?.lastUsedAt).toBe(70_000);
      expect(await store.countApiTokens('admin')).toBe(1);
      expect(await store.countApiTokens()).toBe(2);
      expect((await store.listApiTokens()).map((t) => t.id)).toEqual(['aaaaaaaaaaaa', 'bbbbbbbbbbbb']);
      expect(await store.deleteApiToken('bbbbbbbbbbbb')).toBe(true);
      expect(await store.deleteApiToken('bbbbbbbbbbbb')).toBe(false);
    });

    it('never deletes the last admin token, also when two deletes race', async () => {
      const { store, cleanup } = await engine.open();
      try {
        await store.createApiToken({ id: 'admin1', role: 'admin', name: null, secretHash: 'h1', createdAt: 1, expiresAt: null, lastUsedAt: null, sites: null });
        await store.createApiToken({ id: 'admin2', role: 'admin', name: null, secretHash: 'h2', createdAt: 2, expiresAt: null, lastUsedAt: null, sites: null });
        await store.createApiToken({
          id: 'viewer1',
          role: 'viewer',
          name: null,
          secretHash: 'h3',
          createdAt: 3,
          expiresAt: null,
          lastUsedAt: null,
          sites: null,
        });
        // An expired admin does not count as another admin: it can no longer act.
        await store.createApiToken({ id: 'admin3', role: 'admin', name: null, secretHash: 'h4', createdAt: 4, expiresAt: 10, lastUsedAt: null, sites: null });
        // Checked and deleted apart, both deletes would see the other admin and both succeed.
        const outcomes = await Promise.all([store.deleteApiTokenUnlessLastAdmin('admin1', 100), store.deleteApiTokenUnlessLastAdmin('admin2', 100)]);
        expect(outcomes.sort()).toEqual(['deleted', 'last_admin']);
        expect(await store.countApiTokens('admin')).toBe(2);
        expect(await store.deleteApiTokenUnlessLastAdmin('nobody', 100)).toBe('not_found');
        expect(await store.deleteApiTokenUnlessLastAdmin('viewer1', 100)).toBe('deleted');
        expect(await store.deleteApiTokenUnlessLastAdmin('admin3', 100)).toBe('deleted');
      } finally {
        await store.close();
        cleanup();
      }
    });

    it('takes bootstrap token uses atomically and says why it cannot', async () => {
      const base = { secretHash: 'x', site: 'warehouse-east', labels: { tier: 'edge' }, createdAt: 1, createdBy: 'token:a' };
      await store.createBootstrapToken({ ...base, id: 'tok1', uses: 3, usesLeft: 3, expiresAt: 10_000 });
      await store.createBootstrapToken({ ...base, id: 'tok2', uses: 1, usesLeft: 1, expiresAt: 500 });
      // Ten concurrent takes of a three-use token: exactly three succeed.
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consumeBootstrapToken('tok1', 100)));
      expect(results.filter((r) => r.ok)).toHaveLength(3);
      expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === 'exhausted')).toBe(true);
      expect((await store.getBootstrapToken('tok1'))?.usesLeft).toBe(0);
      expect(await store.consumeBootstrapToken('tok2', 600)).toEqual({ ok: false, reason: 'expired' });
      expect(await store.consumeBootstrapToken('nope', 600)).toEqual({ ok: false, reason: 'unknown' });
      const ok = await store.consumeBootstrapToken('tok2', 499);
      expect(ok.ok && ok.token.labels).toEqual({ tier: 'edge' });
      expect((await store.listBootstrapTokens()).map((t) => t.id)).toEqual(['tok1', 'tok2']);
    });

    it('creates, finds, updates and lists nodes', async () => {
      await store.createNode(node('n1'));
      await store.createNode(node('n2', { hardwareSerial: null }));
      expect((await store.getNodeByName('name-n1'))?.id).toBe('n1');
      expect((await store.getNodeByHardwareSerial('serial-n1'))?.id).toBe('n1');
      expect(await store.getNodeByHardwareSerial('serial-none')).toBeUndefined();
      await store.recordHeartbeat('n1', { 'cpu.arch': 'arm64', 'ai.accelerator': 'hailo8l' }, { seen: true }, 5_000);
      await store.setOperatorLabels('n1', { 'geolocation.site': 'shop-3' });
      const n1 = await store.getNode('n1');
      expect(n1?.lastSeen).toBe(5_000);
      expect(n1?.detectedLabels['ai.accelerator']).toBe('hailo8l');
      expect(n1?.operatorLabels).toEqual({ 'geolocation.site': 'shop-3' });
      expect(n1?.facts).toEqual({ seen: true });
      await store.updateNode({ ...(n1 as NodeRecord), name: 'renamed' });
      expect((await store.getNode('n1'))?.name).toBe('renamed');
      expect((await store.listNodes()).map((n) => n.name)).toEqual(['name-n2', 'renamed']);
      // What targeting reads: the same nodes in the same order, labels, last-seen and certificate only.
      expect(await store.listNodeLabels()).toEqual(
        (await store.listNodes()).map((n) => ({
          id: n.id,
          name: n.name,
          detectedLabels: n.detectedLabels,
          operatorLabels: n.operatorLabels,
          lastSeen: n.lastSeen,
          certSerial: n.certSerial,
        })),
      );
      // Whole records of some nodes (what the dashboard's watch re-reads); an unknown id is left out.
      const byId = (nodes: NodeRecord[]) => nodes.sort((a, b) => a.id.localeCompare(b.id));
      expect(byId(await store.listNodesById(['n2', 'gone', 'n1']))).toEqual(byId(await store.listNodes()));
      expect(await store.listNodesById([])).toEqual([]);
      await expect(store.createNode(node('n3', { name: 'renamed' }))).rejects.toThrow();
    });

    it('writes plain heartbeats of the same moment together, each with its own time, in one transaction', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => `hb-${i}`);
      for (const id of ids) await store.createNode(node(id));
      let transactions = 0;
      const db = (store as unknown as { db: { transaction: () => unknown } }).db;
      const original = db.transaction.bind(db);
      db.transaction = () => {
        transactions++;
        return original();
      };
      try {
        // Sent in one turn of the loop, as a burst of status reports arrives; hb-0 twice.
        await Promise.all([
          ...ids.map((id, i) => store.recordHeartbeat(id, undefined, undefined, 10_000 + (i % 3))),
          store.recordHeartbeat('hb-0', undefined, undefined, 20_000),
        ]);
      } finally {
        db.transaction = original;
      }
      expect(transactions).toBe(1);
      const seen = new Map((await store.listNodes()).map((n) => [n.id, n.lastSeen]));
      expect(seen.get('hb-0')).toBe(20_000);
      for (const [i, id] of ids.entries()) if (i > 0) expect(seen.get(id)).toBe(10_000 + (i % 3));
    });

    it('fails every heartbeat of a group whose write fails', async () => {
      await store.createNode(node('hb-fail'));
      const nodes = (store as unknown as { nodes: { db: { transaction: () => unknown } } }).nodes;
      const original = nodes.db.transaction.bind(nodes.db);
      nodes.db.transaction = () => ({ execute: async () => Promise.reject(new Error('disk full')) });
      try {
        const results = await Promise.allSettled([
          store.recordHeartbeat('hb-fail', undefined, undefined, 1),
          store.recordHeartbeat('hb-fail', undefined, undefined, 2),
        ]);
        expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok'))).toEqual(['disk full', 'disk full']);
      } finally {
        nodes.db.transaction = original;
      }
      expect((await store.getNode('hb-fail'))?.lastSeen).toBeNull();
    });

    it('revokes every certificate of a decommissioned node', async () => {
      await store.createNode(node('n9'));
      await store.recordCertificate({ serial: 'c1', nodeId: 'n9', issuedAt: 1, notAfter: 100, revokedAt: null, fingerprint: 'f1' });
      await store.recordCertificate({ serial: 'c2', nodeId: 'n9', issuedAt: 2, notAfter: 200, revokedAt: null, fingerprint: 'f2' });
      expect((await store.getNode('n9'))?.certSerial).toBe('c2');
      expect(await store.decommissionNode('n9', 300)).toBe(true);
      expect(await store.getNode('n9')).toBeUndefined();
      expect((await store.getCertificate('c1'))?.revokedAt).toBe(300);
      expect((await store.getCertificate('c2'))?.revokedAt).toBe(300);
      expect(await store.decommissionNode('n9', 301)).toBe(false);
    });

    it('finds a certificate by fingerprint, and fills in a missing one only once', async () => {
      await store.createNode(node('n8'));
      await store.recordCertificate({ serial: 'c8', nodeId: 'n8', issuedAt: 1, notAfter: 100, revokedAt: null, fingerprint: 'f8' });
      expect((await store.getCertificateByFingerprint('f8'))?.serial).toBe('c8');
      expect(await store.getCertificateByFingerprint('c8')).toBeUndefined();
      // Issued before fingerprints were recorded: none until its node presents it.
      await store.recordCertificate({ serial: 'c7', nodeId: 'n8', issuedAt: 2, notAfter: 200, revokedAt: null, fingerprint: null });
      expect((await store.getCertificate('c7'))?.fingerprint).toBeNull();
      expect(await store.fillCertificateFingerprint('c7', 'f7')).toBe(true);
      expect(await store.fillCertificateFingerprint('c7', 'other')).toBe(false);
      expect(await store.fillCertificateFingerprint('c8', 'other')).toBe(false);
      expect(await store.fillCertificateFingerprint('unknown', 'f0')).toBe(false);
      expect((await store.getCertificateByFingerprint('f7'))?.serial).toBe('c7');
      expect((await store.getCertificate('c8'))?.fingerprint).toBe('f8');
    });

    it('records a certificate’s first use once, and revokes a node’s certificates with a reason', async () => {
      await store.createNode(node('n7'));
      await store.createNode(node('n6'));
      for (const [serial, nodeId] of [
        ['d1', 'n7'],
        ['d2', 'n7'],
        ['d3', 'n7'],
        ['d4', 'n6'],
      ] as const) {
        await store.recordCertificate({ serial, nodeId, issuedAt: 1, notAfter: 100, revokedAt: null, fingerprint: `fp-${serial}` });
      }
      expect((await store.getCertificate('d1'))?.firstUsedAt).toBeNull();
      expect(await store.markCertificateUsed('d1', 10)).toBe(true);
      expect(await store.markCertificateUsed('d1', 11)).toBe(false);
      expect(await store.markCertificateUsed('unknown', 11)).toBe(false);
      expect((await store.getCertificate('d1'))?.firstUsedAt).toBe(10);
      expect(await store.revokeCertificates('n7', 20, 'operator', { only: 'd2' })).toEqual(['d2']);
      expect((await store.revokeCertificates('n7', 30, 'superseded', { except: 'd1' })).sort()).toEqual(['d3']);
      expect(await store.getCertificate('d2')).toMatchObject({ revokedAt: 20, revokedReason: 'operator' });
      expect(await store.getCertificate('d3')).toMatchObject({ revokedAt: 30, revokedReason: 'superseded' });
      expect(await store.getCertificate('d1')).toMatchObject({ revokedAt: null, revokedReason: null });
      // A revoked certificate is never marked used.
      expect(await store.markCertificateUsed('d3', 31)).toBe(false);
      expect((await store.getCertificate('d3'))?.firstUsedAt).toBeNull();
      expect((await store.getCertificate('d4'))?.revokedAt).toBeNull();
      expect((await store.listCertificates('n7')).map((c) => c.serial)).toEqual(['d1', 'd2', 'd3']);
      expect(await store.listCertificates('nobody')).toEqual([]);
      expect(await store.decommissionNode('n7', 40)).toBe(true);
      expect(await store.getCertificate('d1')).toMatchObject({ revokedAt: 40, revokedReason: 'decommissioned' });
    });

    it('keeps the node a re-enroll token is bound to', async () => {
      const base = { secretHash: 'h', site: null, labels: {}, uses: 1, usesLeft: 1, expiresAt: 10_000, createdAt: 1, createdBy: 'token:t' };
      await store.createBootstrapToken({ ...base, id: 'bound', nodeId: 'n5' });
      await store.createBootstrapToken({ ...base, id: 'plain' });
      expect((await store.getBootstrapToken('bound'))?.nodeId).toBe('n5');
      expect((await store.getBootstrapToken('plain'))?.nodeId).toBeNull();
      const taken = await store.consumeBootstrapToken('bound', 5);
      expect(taken.ok && taken.token.nodeId).toBe('n5');
    });

    it('keeps workload stats by deployment and window, and prunes old ones', async () => {
      const latency = { v: 1 as const, offset: 10, counts: [1, 2] };
      const base = { deployment: 'detect', revision: 2, requests: 3, errors: 0, restarts: 0, fallback: false, latency };
      await store.insertWorkloadStats('n1', [
        { ...base, intervalStart: 1_000, intervalEnd: 2_000 },
        { ...base, intervalStart: 2_000, intervalEnd: 3_000, fallback: true },
      ]);
      await store.insertWorkloadStats('n2', [{ ...base, deployment: 'other', intervalStart: 1_000, intervalEnd: 2_500 }]);
      const window = await store.listWorkloadStats('detect', 2_000);
      expect(window).toEqual([{ ...base, nodeId: 'n1', intervalStart: 2_000, intervalEnd: 3_000, fallback: true }]);
      expect(await store.pruneWorkloadStats(2_600)).toBe(2);
      expect(await store.listWorkloadStats('detect', 0)).toHaveLength(1);
    });

    it("keeps a sample's instance start and requests before, and leaves them out for older agents' samples", async () => {
      const latency = { v: 1 as const, offset: 10, counts: [4] };
      const base = { deployment: 'warm', revision: 3, requests: 4, errors: 0, restarts: 0, fallback: false, latency };
      // Node clock ms beyond 2^31 and a count beyond int4: both columns are bigint.
      const warm = {
        ...base,
        intervalStart: 1_764_000_060_000,
        intervalEnd: 1_764_000_075_000,
        instanceStartedAt: 1_764_000_000_123,
        instanceRequestsBefore: 3_000_000_000,
      };
      const cold = {
        ...base,
        intervalStart: 1_764_000_075_000,
        intervalEnd: 1_764_000_090_000,
        instanceStartedAt: 1_764_000_075_000,
        instanceRequestsBefore: 0,
      };
      const old = { ...base, intervalStart: 1_764_000_090_000, intervalEnd: 1_764_000_105_000 };
      await store.insertWorkloadStats('n1', [warm, cold, old]);
      const rows = (await store.listWorkloadStats('warm', 0)).sort((a, b) => a.intervalStart - b.intervalStart);
      expect(rows).toEqual([
        { ...warm, nodeId: 'n1' },
        { ...cold, nodeId: 'n1' },
        { ...old, nodeId: 'n1' },
      ]);
      expect(rows[2]).not.toHaveProperty('instanceStartedAt');
      expect(rows[2]).not.toHaveProperty('instanceRequestsBefore');
    });

    it('merges latency history into one row per revision, site and hour, and prunes it by age and by row cap', async () => {
      const hour = 3_600_000;
      const row = (over: Partial<LatencyHistoryRecord>): LatencyHistoryRecord => ({
        deployment: 'hist',
        revision: 1,
        site: 'site-a',
        hour: 10 * hour,
        requests: 2,
        errors: 0,
        latency: { v: 1, offset: 100, counts: [2] },
        ...over,
      });
      await store.addLatencyHistory([row({}), row({ site: 'site-b' })]);
      // Concurrent additions to one row all count (PostgreSQL: the row is locked while merged).
      await Promise.all([
        store.addLatencyHistory([row({ requests: 3, errors: 1, latency: { v: 1, offset: 102, counts: [1, 0, 2] } })]),
        store.addLatencyHistory([row({ requests: 1, latency: { v: 1, offset: 99, counts: [1] } })]),
      ]);
      await store.addLatencyHistory([row({ hour: 11 * hour }), row({ hour: 12 * hour, revision: 2 })]);
      const a = (await store.listLatencyHistory('hist', 0, { site: 'site-a', revision: 1 })).filter((r) => r.hour === 10 * hour);
      expect(a).toEqual([row({ requests: 6, errors: 1, latency: { v: 1, offset: 99, counts: [1, 2, 0, 1, 0, 2] } })]);
      expect((await store.listLatencyHistory('hist', 11 * hour)).map((r) => [r.hour / hour, r.revision])).toEqual([
        [11, 1],
        [12, 2],
      ]);
      // The cap keeps whole newest hours: 4 rows, cap 2 → hour 10 (two sites) goes.
      expect(await store.pruneLatencyHistory({ before: 0, rowsPerDeployment: 2 })).toBe(2);
      expect((await store.listLatencyHistory('hist', 0)).map((r) => r.hour / hour)).toEqual([11, 12]);
      expect(await store.pruneLatencyHistory({ before: 12 * hour, rowsPerDeployment: 100 })).toBe(1);
      expect((await store.listLatencyHistory('hist', 0)).map((r) => r.hour / hour)).toEqual([12]);
    });

    it('saves rollout state, events and consumed commands in one step', async () => {
      await store.enqueueRolloutCommand({ id: 'c1', deployment: 'detect', command: { command: 'pause' }, createdAt: 1 });
      await store.enqueueRolloutCommand({ id: 'c2', deployment: 'detect', command: { command: 'resume' }, createdAt: 2 });
      expect((await store.listRolloutCommands('detect')).map((c) => c.id)).toEqual(['c1', 'c2']);
      await store.saveRollout('detect', { phase: 'Paused', step: 1 }, [{ seq: 0, at: 10, event: { type: 'Paused' } }], ['c1'], 10);
      await store.saveRollout('detect', { phase: 'Progressing', step: 2 }, [{ seq: 1, at: 11, event: { type: 'Resumed' } }], [], 11);
      expect(await store.getRollout('detect')).toEqual({ phase: 'Progressing', step: 2 });
      expect((await store.listRolloutCommands('detect')).map((c) => c.id)).toEqual(['c2']);
      expect((await store.listRolloutEvents({ deployment: 'detect', limit: 10 })).map((e) => e.seq)).toEqual([0, 1]);
      expect(await store.listRollouts()).toEqual([{ deployment: 'detect', state: { phase: 'Progressing', step: 2 } }]);
      // An event number written twice is refused: a restart can never duplicate history.
      await expect(store.saveRollout('detect', { phase: 'x' }, [{ seq: 1, at: 12, event: {} }], [], 12)).rejects.toThrow();
      expect(await store.getRollout('detect')).toEqual({ phase: 'Progressing', step: 2 });
      await store.deleteRollout('detect');
      expect(await store.getRollout('detect')).toBeUndefined();
      expect(await store.listRolloutCommands('detect')).toEqual([]);
    });

    it("keeps a rollout's Stalled condition apart from its state, replaced and cleared whole", async () => {
      const stall = { deployment: 'stuck', reason: 'RolloutStateInvalid', message: 'picked: expected array', revision: 3, since: 1_772_352_060_000 };
      await store.saveRolloutStall(stall);
      await store.saveRolloutStall({ ...stall, reason: 'PlanningFailed', revision: 4 });
      expect(await store.getRolloutStall('stuck')).toEqual({ ...stall, reason: 'PlanningFailed', revision: 4 });
      expect(await store.listRolloutStalls()).toEqual([{ ...stall, reason: 'PlanningFailed', revision: 4 }]);
      expect(await store.clearRolloutStall('stuck')).toBe(true);
      expect(await store.clearRolloutStall('stuck')).toBe(false);
      expect(await store.getRolloutStall('stuck')).toBeUndefined();
    });

    it('keeps the audit log newest first', async () => {
      await store.appendAudit({ at: 1, actor: 'token:a', action: 'token.create', target: 'tok1', details: { uses: 3 } });
      await store.appendAudit({ at: 2, actor: 'node:n1', action: 'node.enroll', target: 'n1', details: {} });
      const events = await store.listAudit(10);
      expect(events.map((e) => e.action)).toEqual(['node.enroll', 'token.create']);
      expect(events[1]?.details).toEqual({ uses: 3 });
    });

    it('creates, updates, lists and deletes GitOps sources', async () => {
      const source: SourceRecord = {
        name: 'fleet-main',
        url: '/srv/git/fleet.git',
        branch: 'main',
        path: 'fleet',
        intervalMs: 30_000,
        createdAt: 1_700_000_000_000,
        lastAppliedRevision: null,
        lastAttemptedRevision: null,
        conditions: [{ type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'waiting for the first poll' }],
        lastError: null,
        updatedAt: null,
      };
      await store.createSource(source);
      await store.createSource({ ...source, name: 'a-lab', url: 'https://git.example.com/lab.git', path: '' });
      await expect(store.createSource(source)).rejects.toThrow();
      expect(await store.getSource('fleet-main')).toEqual(source);
      expect(await store.getSource('nope')).toBeUndefined();
      expect((await store.listSources()).map((s) => s.name)).toEqual(['a-lab', 'fleet-main']);

      const status = {
        lastAppliedRevision: 'a'.repeat(40),
        lastAttemptedRevision: 'b'.repeat(40),
        conditions: [
          { type: 'Ready', status: 'False', reason: 'InvalidManifest', message: 'fleet/app.yaml:3: YAML syntax error' },
          { type: 'Stalled', status: 'True', reason: 'InvalidManifest', message: 'fleet/app.yaml:3: YAML syntax error' },
        ] satisfies SourceRecord['conditions'],
        lastError: 'fleet/app.yaml:3: YAML syntax error',
        updatedAt: 1_700_000_030_000,
      };
      expect(await store.updateSourceStatus('fleet-main', status)).toBe(true);
      expect(await store.getSource('fleet-main')).toEqual({ ...source, ...status });
      expect(await store.updateSourceStatus('nope', status)).toBe(false);

      expect(await store.deleteSource('a-lab')).toBe(true);
      expect(await store.deleteSource('a-lab')).toBe(false);
      expect((await store.listSources()).map((s) => s.name)).toEqual(['fleet-main']);
    });

    it('puts, replaces, lists and deletes registries, one per host, each write moving the desired-state mark', async () => {
      const harbor: RegistryRecord = {
        name: 'harbor',
        server: 'https://harbor.example:5000',
        host: 'harbor.example:5000',
        username: 'robot',
        passwordSealed: 'v1:aaaa:bbbb:cccc',
        caPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        createdAt: 1_700_000_000_000,
        updatedAt: 1_700_000_000_000,
      };
      const marks = async (): Promise<string> => String((await store.desiredStateMarks()).inputs);
      const m0 = await marks();
      expect(await store.putRegistry(harbor)).toEqual({ replaced: false });
      const m1 = await marks();
      expect(m1).not.toBe(m0);
      expect(await store.getRegistry('harbor')).toEqual(harbor);
      const replaced = { ...harbor, username: null, passwordSealed: null, caPem: null, updatedAt: 1_700_000_100_000 };
      expect(await store.putRegistry(replaced)).toEqual({ replaced: true });
      expect(await store.getRegistry('harbor')).toEqual(replaced);
      expect(await marks()).not.toBe(m1);
      await store.putRegistry({ ...harbor, name: 'a-ghcr', server: 'https://ghcr.io', host: 'ghcr.io' });
      expect((await store.listRegistries()).map((r) => r.name)).toEqual(['a-ghcr', 'harbor']);
      // One registry per host: the host an image names picks its credentials.
      const clash = await store.putRegistry({ ...harbor, name: 'clash' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isUniqueViolation(clash, 'host')).toBe(true);
      expect(await store.getRegistry('clash')).toBeUndefined();
      // Inside a unit of work that rolls back, nothing stays.
      await expect(
        store.transaction(async (tx) => {
          await tx.putRegistry({ ...harbor, name: 'gone', server: 'https://gone.example', host: 'gone.example' });
          throw new Error('rolled back');
        }),
      ).rejects.toThrow('rolled back');
      expect(await store.getRegistry('gone')).toBeUndefined();
      expect(await store.deleteRegistry('a-ghcr')).toBe(true);
      expect(await store.deleteRegistry('a-ghcr')).toBe(false);
      expect((await store.listRegistries()).map((r) => r.name)).toEqual(['harbor']);
    });

    it('lets one holder at a time take an advisory lock on PostgreSQL (a no-op on SQLite)', async () => {
      let release!: () => void;
      const held = new Promise<void>((r) => {
        release = r;
      });
      let entered!: () => void;
      const inside = new Promise<void>((r) => {
        entered = r;
      });
      const first = store.withAdvisoryLock('source:a', 'try', async () => {
        entered();
        await held;
        return 'first';
      });
      await inside;
      const second = await store.withAdvisoryLock('source:a', 'try', async () => 'second');
      const other = await store.withAdvisoryLock('source:b', 'try', async () => 'other');
      expect(other).toEqual({ acquired: true, value: 'other' });
      if (engine.name === 'postgres') {
        expect(second).toEqual({ acquired: false });
        // A waiter gets the lock as soon as the holder lets go.
        const waiter = store.withAdvisoryLock('source:a', 'wait', async () => 'waited');
        release();
        expect(await first).toEqual({ acquired: true, value: 'first' });
        expect(await waiter).toEqual({ acquired: true, value: 'waited' });
      } else {
        expect(second).toEqual({ acquired: true, value: 'second' });
        release();
        expect(await first).toEqual({ acquired: true, value: 'first' });
      }
      // Released after a throwing job too.
      await expect(store.withAdvisoryLock('source:a', 'try', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await store.withAdvisoryLock('source:a', 'try', async () => 'again')).toEqual({ acquired: true, value: 'again' });
    });

    it('lists every deployment’s current revision in one read', async () => {
      const { store, cleanup } = await engine.open();
      try {
        const deployment = (name: string, revision: number) => ({
          name,
          spec: { selector: 'line=l3' } as never,
          generation: revision,
          revision,
          source: null,
          createdAt: 1,
          updatedAt: 1,
        });
        const revision = (name: string, n: number) => ({
          deployment: name,
          revision: n,
          release: { version: String(n) } as never,
          releaseDigest: `${name}-${n}`,
          commit: null,
          createdAt: n,
        });
        await store.writeDeployments(
          [
            { deployment: deployment('a', 1), newRevision: revision('a', 1) },
            { deployment: deployment('b', 1), newRevision: revision('b', 1) },
          ],
          [],
        );
        await store.writeDeployments([{ deployment: deployment('a', 2), newRevision: revision('a', 2) }], []);
        const current = (await store.listCurrentRevisions()).map((r) => r.releaseDigest).sort();
        expect(current).toEqual(['a-2', 'b-1']);
      } finally {
        await store.close();
        cleanup();
      }
    });

    it('marks each write of what desired state is made of, also two in the same millisecond', async () => {
      const inputs = async (): Promise<string> => (await store.desiredStateMarks()).inputs;
      const seen = new Set([await inputs()]);
      const changed = async (): Promise<void> => {
        const now = await inputs();
        expect(seen.has(now)).toBe(false);
        seen.add(now);
      };
      const deployment = { name: 'marks', spec: { selector: 'line=l3' } as never, generation: 1, revision: 1, source: null, createdAt: 50, updatedAt: 50 };
      const revision = { deployment: 'marks', revision: 1, release: { version: '1' } as never, releaseDigest: 'd1', commit: null, createdAt: 50 };
      await store.writeDeployments([{ deployment, newRevision: revision }], []);
      await changed();
      await store.saveRollout('marks', { phase: 'Progressing', assigned: [] }, [], [], 60);
      await changed();
      // The same timestamp, as a rollout pass within one millisecond of the last would write.
      await store.saveRollout('marks', { phase: 'Progressing', assigned: ['n1'] }, [], [], 60);
      await changed();
      await store.addReleaseKey({ keyId: 'marks-key', publicKey: 'pem', signedBy: null, signature: null, expiresAt: null, revocation: null, createdAt: 70 });
      await changed();
      await store.deleteRollout('marks');
      await changed();
      await store.writeDeployments([], ['marks']);
      await changed();
      // Heartbeats and label changes are not inputs: they are node changes.
      await store.createNode(node('marks-node'));
      await store.setOperatorLabels('marks-node', { line: 'l3' });
      await store.recordHeartbeat('marks-node', undefined, { uptime: 1 }, 80);
      expect(seen.has(await inputs())).toBe(true);
    });

    it('logs node changes in commit order: labels set by operators and detected, re-enrollment, decommissioning', async () => {
      await store.createNode(node('log-a'));
      await store.createNode(node('log-b'));
      const start = (await store.desiredStateMarks()).nodeChanges;
      await store.recordHeartbeat('log-a', undefined, { uptime: 2 }, 90);
      expect((await store.desiredStateMarks()).nodeChanges).toBe(start);
      await store.recordHeartbeat('log-a', { 'cpu.arch': 'arm64', 'ai.accelerator': 'none' }, undefined, 91);
      await store.setOperatorLabels('log-b', { line: 'l1' });
      await store.updateNode(node('log-a', { operatorLabels: { line: 'l2' } }));
      expect(await store.decommissionNode('log-b', 92)).toBe(true);
      expect(await store.listNodeChanges(start)).toEqual([
        { generation: start + 1, nodeId: 'log-a' },
        { generation: start + 2, nodeId: 'log-b' },
        { generation: start + 3, nodeId: 'log-a' },
        { generation: start + 4, nodeId: 'log-b' },
      ]);
      // Concurrent writers each get their own generation, with none skipped.
      await Promise.all(Array.from({ length: 12 }, (_, i) => store.setOperatorLabels('log-a', { line: `l${i}` })));
      const marks = await store.desiredStateMarks();
      expect(marks.nodeChanges).toBe(start + 16);
      expect((await store.listNodeChanges(start + 4)).map((c) => c.generation)).toEqual(Array.from({ length: 12 }, (_, i) => start + 5 + i));
    });

    it('holds a node to its daily log budget across uploads and bounds its series and alerts (issue 14, finding 10)', async () => {
      await store.createNode(node('quota-a'));
      const day = 20_000 * 86_400_000;
      const line = (text: string) => ({ tsNs: '1', at: 1, source: 'agent', revision: null, stream: 'agent', level: 'info', line: text });
      expect(await store.acceptLogs('quota-a', { stream: 's', seq: 1 }, day + 1, [line('x'.repeat(60))], 100)).toEqual({ kind: 'stored', usedBytes: 60 });
      expect(await store.acceptLogs('quota-a', { stream: 's', seq: 2 }, day + 2, [line('é'.repeat(25))], 100)).toEqual({
        kind: 'over-budget',
        usedBytes: 60,
        batchBytes: 50,
      });
      // Refused whole: the cursor did not move, so the same batch is not a replay later.
      expect(await store.acceptLogs('quota-a', { stream: 's', seq: 2 }, day + 3, [line('y'.repeat(40))], 100)).toEqual({ kind: 'stored', usedBytes: 100 });
      expect(await store.acceptLogs('quota-a', { stream: 's', seq: 2 }, day + 4, [line('z')], 100)).toEqual({ kind: 'replay' });
      // A new UTC day, a new budget.
      expect(await store.acceptLogs('quota-a', { stream: 's', seq: 3 }, day + 86_400_000, [line('w'.repeat(90))], 100)).toEqual({
        kind: 'stored',
        usedBytes: 90,
      });
      expect((await store.listLogs({ nodeId: 'quota-a', limit: 100 })).map((l) => l.line.length)).toEqual([60, 40, 90]);

      const bounds = { series: 2, alerts: 2, staleMs: 1_000 };
      const sample = (name: string, t: number) => ({ name, labels: { node: 'quota-a' }, kind: 'gauge' as const, value: 1, t });
      const alert = (name: string, state: 'firing' | 'resolved', reportedAt: number) => ({
        nodeId: 'quota-a',
        name,
        state,
        severity: 'warning' as const,
        since: 1,
        message: '',
        labels: {},
        reportedAt,
      });
      const first = await store.acceptMetrics(
        'quota-a',
        { stream: 'm', seq: 1 },
        10_000,
        [sample('a', 10_000), sample('b', 10_000), sample('c', 10_000)],
        [alert('A1', 'resolved', 1), alert('A2', 'firing', 2), alert('A3', 'firing', 3)],
        bounds,
      );
      expect({ ...first, refusedSeries: [...first.refusedSeries] }).toEqual({
        accepted: true,
        refusedSeries: [seriesKey(sample('c', 0))],
        refusedAlerts: 0,
      });
      // A3 took the place of the resolved A1; a fourth finds no resolved one to replace.
      expect((await store.listAlerts({ nodeId: 'quota-a' })).map((a) => a.name).sort()).toEqual(['A2', 'A3']);
      const second = await store.acceptMetrics(
        'quota-a',
        { stream: 'm', seq: 2 },
        10_500,
        [sample('a', 10_500)],
        [alert('A4', 'firing', 4), alert('A2', 'resolved', 5)],
        bounds,
      );
      expect(second.refusedAlerts).toBe(1);
      // Series not updated for longer than staleMs give their place to new ones.
      const third = await store.acceptMetrics('quota-a', { stream: 'm', seq: 3 }, 11_400, [sample('c', 11_400)], [], bounds);
      expect(third.refusedSeries.size).toBe(0);
      expect(((await store.getNodeTelemetry('quota-a'))?.latest ?? []).map((s) => s.name).sort()).toEqual(['a', 'c']);
    });

    it('applies migrations idempotently on a second open', async () => {
      if (engine.name !== 'sqlite') return;
      const dir = mkdtempSync(join(tmpdir(), 'edgefleet-store-'));
      const path = `sqlite:${join(dir, 'again.db')}`;
      const first = await openStore(path, '');
      await first.setMetaIfAbsent('k', 'v');
      await first.close();
      const second = await openStore(path, '');
      expect(await second.getMeta('k')).toBe('v');
      await second.close();
      rmSync(dir, { recursive: true, force: true });
    });
  });
}

describe('openStore', () => {
  it('refuses an unknown database URL with a hint', async () => {
    await expect(openStore('mysql://x', '')).rejects.toMatchObject({ code: 'config', hint: expect.stringContaining('sqlite:PATH') });
  });
});
