import type { Kysely, Selectable } from 'kysely';
import type { RegistryRecord, RegistryRepository } from '../registries.js';
import type { Database } from '../schema.js';
import { atomically } from './atomically.js';
import { bumpCounter } from './change-counters.js';
import { num } from './columns.js';

type Row = Selectable<Database['registries']>;

function toRecord(r: Row): RegistryRecord {
  return {
    name: r.name,
    server: r.server,
    host: r.host,
    username: r.username,
    passwordSealed: r.password_sealed,
    caPem: r.ca_pem,
    createdAt: num(r.created_at),
    updatedAt: num(r.updated_at),
  };
}

/** {@link RegistryRepository} over Kysely. */
export class SqlRegistryRepository implements RegistryRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async putRegistry(record: RegistryRecord): Promise<{ replaced: boolean }> {
    return atomically(this.db, async (tx) => {
      const existing = await tx.selectFrom('registries').select('created_at').where('name', '=', record.name).executeTakeFirst();
      const values = {
        server: record.server,
        host: record.host,
        username: record.username,
        password_sealed: record.passwordSealed,
        ca_pem: record.caPem,
        updated_at: record.updatedAt,
      };
      if (existing === undefined) {
        await tx
          .insertInto('registries')
          .values({ name: record.name, created_at: record.createdAt, ...values })
          .execute();
      } else {
        await tx.updateTable('registries').set(values).where('name', '=', record.name).execute();
      }
      await bumpCounter(tx, 'desired_inputs');
      return { replaced: existing !== undefined };
    });
  }

  async getRegistry(name: string): Promise<RegistryRecord | undefined> {
    const row = await this.db.selectFrom('registries').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async listRegistries(): Promise<RegistryRecord[]> {
    return (await this.db.selectFrom('registries').selectAll().orderBy('name').execute()).map(toRecord);
  }

  async deleteRegistry(name: string): Promise<boolean> {
    return atomically(this.db, async (tx) => {
      const result = await tx.deleteFrom('registries').where('name', '=', name).executeTakeFirst();
      const deleted = Number(result.numDeletedRows) > 0;
      if (deleted) await bumpCounter(tx, 'desired_inputs');
      return deleted;
    });
  }
}
