import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeRecord, Store } from '../../src/store/index.js';
import { engines } from './engines.js';

function node(id: string): NodeRecord {
  return {
    id,
    name: `name-${id}`,
    hardwareSerial: null,
    detectedLabels: {},
    operatorLabels: {},
    facts: {},
    certSerial: `cert-${id}`,
    certNotAfter: 2_000_000_000_000,
    lastSeen: null,
    createdAt: 1_700_000_000_000,
  };
}

const entry = (target: string) => ({ at: 1, actor: 'token:t', action: 'node.test', target, details: {} });

// The composition of repositories into one store, on both engines.
for (const engine of engines) {
  describe(`SqlStore's repositories on ${engine.name}`, () => {
    let store: Store;
    let cleanup: () => void;
    beforeAll(async () => {
      ({ store, cleanup } = await engine.open());
    });
    afterAll(async () => {
      await store.close();
      cleanup();
    });

    const audited = async (target: string) => (await store.audit.listAudit(1_000)).filter((e) => e.target === target);

    it('rolls back writes through a transaction’s repositories with its flat writes', async () => {
      await expect(
        store.transaction(async (tx) => {
          await tx.nodes.createNode(node('repo-lost'));
          // The flat method reads what the repository wrote: the same transaction.
          expect((await tx.getNode('repo-lost'))?.id).toBe('repo-lost');
          // A multi-statement write of a repository joins the transaction too.
          await tx.nodes.setOperatorLabels('repo-lost', { team: 'a' });
          await tx.appendAudit(entry('repo-lost'));
          await tx.audit.appendAudit(entry('repo-lost'));
          throw new Error('fails before commit');
        }),
      ).rejects.toThrow('fails before commit');
      expect(await store.nodes.getNode('repo-lost')).toBeUndefined();
      expect(await store.getNode('repo-lost')).toBeUndefined();
      expect(await audited('repo-lost')).toEqual([]);
    });

    it('commits writes through a transaction’s repositories with its flat writes', async () => {
      await store.transaction(async (tx) => {
        await tx.createNode(node('repo-kept'));
        expect((await tx.nodes.getNode('repo-kept'))?.id).toBe('repo-kept');
        // A nested unit of work joins the outer one, repositories included.
        await tx.transaction(async (inner) => {
          await inner.nodes.setOperatorLabels('repo-kept', { team: 'b' });
          await inner.audit.appendAudit(entry('repo-kept'));
        });
      });
      expect((await store.nodes.getNode('repo-kept'))?.operatorLabels).toEqual({ team: 'b' });
      expect(await audited('repo-kept')).toHaveLength(1);
    });

    it('gives each repository only its own aggregate', async () => {
      await store.transaction(async (tx) => {
        for (const repositories of [store, tx]) {
          expect(typeof repositories.nodes.getNode).toBe('function');
          expect('appendAudit' in repositories.nodes).toBe(false);
          expect('getNode' in repositories.audit).toBe(false);
        }
      });
    });
  });
}
