import type { Kysely } from 'kysely';
import type { RolloutCommandRecord, RolloutRepository, RolloutStallRecord } from '../rollouts.js';
import type { Database } from '../schema.js';
import { atomically } from './atomically.js';
import { bumpCounter } from './change-counters.js';
import { num } from './columns.js';

function toRolloutStall(r: Database['rollout_stalls']): RolloutStallRecord {
  return { deployment: r.deployment, reason: r.reason, message: r.message, revision: num(r.revision), since: num(r.since) };
}

/** {@link RolloutRepository} over Kysely. */
export class SqlRolloutRepository implements RolloutRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async getRollout(deployment: string): Promise<unknown | undefined> {
    const r = await this.db.selectFrom('rollouts').select('state').where('deployment', '=', deployment).executeTakeFirst();
    return r === undefined ? undefined : (JSON.parse(r.state) as unknown);
  }

  async listRollouts(): Promise<Array<{ deployment: string; state: unknown }>> {
    const rows = await this.db.selectFrom('rollouts').selectAll().orderBy('deployment').execute();
    return rows.map((r) => ({ deployment: r.deployment, state: JSON.parse(r.state) as unknown }));
  }

  async saveRollout(
    deployment: string,
    state: unknown,
    events: Array<{ seq: number; at: number; event: unknown }>,
    consumedCommands: string[],
    at: number,
  ): Promise<void> {
    await atomically(this.db, async (tx) => {
      const row = { state: JSON.stringify(state), updated_at: at };
      const updated = await tx.updateTable('rollouts').set(row).where('deployment', '=', deployment).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0)
        await tx
          .insertInto('rollouts')
          .values({ ...row, deployment })
          .execute();
      if (events.length > 0) {
        await tx
          .insertInto('rollout_events')
          .values(events.map((e) => ({ deployment, seq: e.seq, at: e.at, event: JSON.stringify(e.event) })))
          .execute();
      }
      if (consumedCommands.length > 0) await tx.deleteFrom('rollout_commands').where('id', 'in', consumedCommands).execute();
      await bumpCounter(tx, 'desired_inputs');
    });
  }

  async deleteRollout(deployment: string): Promise<void> {
    await atomically(this.db, async (tx) => {
      await tx.deleteFrom('rollouts').where('deployment', '=', deployment).execute();
      await tx.deleteFrom('rollout_commands').where('deployment', '=', deployment).execute();
      await bumpCounter(tx, 'desired_inputs');
    });
  }

  async listRolloutEvents(filter: { deployment?: string; limit: number }): Promise<Array<{ deployment: string; seq: number; at: number; event: unknown }>> {
    let q = this.db.selectFrom('rollout_events').selectAll();
    if (filter.deployment !== undefined) q = q.where('deployment', '=', filter.deployment);
    const rows = await q.orderBy('at', 'desc').orderBy('seq', 'desc').limit(filter.limit).execute();
    return rows.reverse().map((r) => ({ deployment: r.deployment, seq: num(r.seq), at: num(r.at), event: JSON.parse(r.event) as unknown }));
  }

  async enqueueRolloutCommand(c: RolloutCommandRecord): Promise<void> {
    await this.db
      .insertInto('rollout_commands')
      .values({ id: c.id, deployment: c.deployment, command: JSON.stringify(c.command), created_at: c.createdAt })
      .execute();
  }

  async listRolloutCommands(deployment: string): Promise<RolloutCommandRecord[]> {
    const rows = await this.db.selectFrom('rollout_commands').selectAll().where('deployment', '=', deployment).orderBy('created_at').orderBy('id').execute();
    return rows.map((r) => ({ id: r.id, deployment: r.deployment, command: JSON.parse(r.command) as Record<string, unknown>, createdAt: num(r.created_at) }));
  }

  async getRolloutStall(deployment: string): Promise<RolloutStallRecord | undefined> {
    const r = await this.db.selectFrom('rollout_stalls').selectAll().where('deployment', '=', deployment).executeTakeFirst();
    return r === undefined ? undefined : toRolloutStall(r);
  }

  async listRolloutStalls(): Promise<RolloutStallRecord[]> {
    return (await this.db.selectFrom('rollout_stalls').selectAll().orderBy('deployment').execute()).map(toRolloutStall);
  }

  async saveRolloutStall(stall: RolloutStallRecord): Promise<void> {
    const row = { reason: stall.reason, message: stall.message, revision: stall.revision, since: stall.since };
    await atomically(this.db, async (tx) => {
      const updated = await tx.updateTable('rollout_stalls').set(row).where('deployment', '=', stall.deployment).executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0)
        await tx
          .insertInto('rollout_stalls')
          .values({ ...row, deployment: stall.deployment })
          .execute();
    });
  }

  async clearRolloutStall(deployment: string): Promise<boolean> {
    const r = await this.db.deleteFrom('rollout_stalls').where('deployment', '=', deployment).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
