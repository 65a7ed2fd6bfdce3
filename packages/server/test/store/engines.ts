/**
 * The two engines the store's integration tests run every case on: a SQLite file in a
 * fresh folder, and a fresh database on the run's PostgreSQL (integration tier only).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '../../../../test-support/pg-database.js';
import { openStore, type Store } from '../../src/store/index.js';

export const engines: Array<{ name: string; open: () => Promise<{ store: Store; cleanup: () => void }> }> = [
  {
    name: 'sqlite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'edgefleet-store-'));
      const store = await openStore(`sqlite:${join(dir, 'fleet.db')}`, '');
      return { store, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    open: async () => ({ store: await openStore(await createTestDatabase(), ''), cleanup: () => {} }),
  },
];
