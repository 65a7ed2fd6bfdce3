import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RolloutStatusSchema } from '@edgefleet/protocol';
import BetterSqlite3 from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../src/context.js';
import { getDeploymentView, listDeploymentViews } from '../../src/deployments/service.js';
import { loadTargets } from '../../src/deployments/targets.js';
import { rolloutStatusOf } from '../../src/rollouts/service.js';
import { openStore, type Store } from '../../src/store/index.js';
import { FleetWatch } from '../../src/watch/fleet-watch.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * Two staged deployments, `good` and `broken`, over one node; `broken`'s stored rollout
 * state is not a rollout state, or (`notJson`) not even JSON.
 */
async function fleet(notJson = false): Promise<{ store: Store; ctx: ServerContext; warnings: string[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-stall-'));
  dirs.push(dir);
  const path = join(dir, 'fleet.db');
  const store = await openStore(`sqlite:${path}`, '');
  await store.createNode({
    id: 'n1',
    name: 'n1',
    hardwareSerial: null,
    detectedLabels: { 'cpu.arch': 'arm64' },
    operatorLabels: {},
    facts: {},
    certSerial: '',
    certNotAfter: 0,
    lastSeen: null,
    createdAt: 1,
  });
  for (const name of ['good', 'broken']) {
    await store.writeDeployments(
      [
        {
          deployment: {
            name,
            spec: { selector: 'cpu.arch=arm64', rollout: {} } as never,
            generation: 1,
            revision: 1,
            source: null,
            createdAt: 1,
            updatedAt: 1,
          },
          newRevision: { deployment: name, revision: 1, release: { version: '1' } as never, releaseDigest: name, commit: null, createdAt: 1 },
        },
      ],
      [],
    );
  }
  await store.saveRollout('broken', { phase: 'Sideways' }, [], [], 1);
  if (notJson) {
    const db = new BetterSqlite3(path);
    db.prepare('update rollouts set state = ? where deployment = ?').run('{"v": 1, "pick', 'broken');
    db.close();
  }
  const warnings: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg as string) });
  const ctx = { store, clock: () => 10, heartbeatIntervalMs: 10_000, log, events: new EventEmitter() } as unknown as ServerContext;
  return { store, ctx, warnings };
}

describe('a rollout whose stored state is unreadable', () => {
  it.each([
    ['not a rollout state', false, /unreadable: v: Invalid input/],
    ['not JSON', true, /unreadable: not valid JSON/],
  ])('answers its status with the Stalled condition instead of failing (%s)', async (_what, notJson, cause) => {
    const { store, ctx } = await fleet(notJson);
    try {
      const status = await rolloutStatusOf(ctx, 'broken');
      expect(RolloutStatusSchema.parse(status)).toEqual(status);
      expect(status.phase).toBe('Stalled');
      expect(status.conditions.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'RolloutStateInvalid' });
      expect(status.conditions.find((c) => c.type === 'Stalled')?.message).toMatch(cause);
    } finally {
      await store.close();
    }
  });

  it("shows the controller's stored stall in the rollout status and the deployment's conditions", async () => {
    const { store, ctx } = await fleet();
    try {
      await store.saveRolloutStall({ deployment: 'broken', reason: 'RolloutStateInvalid', message: 'phase: invalid option', revision: 1, since: 5 });
      const status = await rolloutStatusOf(ctx, 'broken');
      expect(status.conditions.at(-1)).toEqual({
        type: 'Stalled',
        status: 'True',
        reason: 'RolloutStateInvalid',
        message: 'phase: invalid option',
        lastTransitionTime: new Date(5).toISOString(),
        observedRevision: 1,
      });
      const view = await getDeploymentView(ctx, 'broken');
      expect(view.status.conditions.find((c) => c.type === 'Stalled')).toMatchObject({
        status: 'True',
        reason: 'RolloutStateInvalid',
        message: 'phase: invalid option',
      });
      const { items } = await listDeploymentViews(ctx);
      const stalledOf = (name: string) => items.find((d) => d.metadata.name === name)?.status.conditions.find((c) => c.type === 'Stalled');
      expect(stalledOf('broken')).toMatchObject({ status: 'True', reason: 'RolloutStateInvalid' });
      expect(stalledOf('good')).toMatchObject({ status: 'False', reason: 'None' });
    } finally {
      await store.close();
    }
  });

  it.each([
    ['not a rollout state', false],
    ['not JSON', true],
  ])("does not take the other deployments' desired state down, and says so once (%s)", async (_what, notJson) => {
    const { store, ctx, warnings } = await fleet(notJson);
    try {
      const targets = await loadTargets(ctx);
      await loadTargets(ctx);
      expect(targets.map((t) => t.deployment.name).sort()).toEqual(['broken', 'good']);
      const good = targets.find((t) => t.deployment.name === 'good');
      const broken = targets.find((t) => t.deployment.name === 'broken');
      // `good` has no rollout state yet: its nodes keep what they had (nothing).
      expect(good?.revisionFor?.('n1')).toBeNull();
      // `broken`'s nodes get no answer (they keep running what they run) rather than a guess.
      expect(() => broken?.revisionFor?.('n1')).toThrow(/stalled/);
      expect(warnings.filter((w) => w.includes('rollout state of broken is unreadable'))).toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('lets the watch feed start (not JSON)', async () => {
    const { store, ctx } = await fleet(true);
    const watch = new FleetWatch(ctx);
    try {
      const unsubscribe = await watch.subscribe({ send: () => {} });
      unsubscribe();
    } finally {
      watch.stop();
      await store.close();
    }
  });
});
