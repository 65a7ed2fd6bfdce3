import type { Kysely } from 'kysely';
import type { MetaRepository } from '../meta.js';
import type { Database } from '../schema.js';

/** {@link MetaRepository} over Kysely. */
export class SqlMetaRepository implements MetaRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute();
  }

  async setMetaIfAbsent(key: string, value: string): Promise<string> {
    await this.db
      .insertInto('meta')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doNothing())
      .execute();
    return (await this.getMeta(key)) as string;
  }
}
