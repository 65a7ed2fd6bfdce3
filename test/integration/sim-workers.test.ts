import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planFleet, startWorkerFleet, type WorkerFleet } from '@edgefleet/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../test-support/cli.js';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

/**
 * `edgefleet sim --workers N` against a real server: the nodes of one plan spread over worker
 * processes enroll once each (a token with exactly as many uses as nodes: a node enrolled
 * twice would exhaust it and another would fail), the merged summary counts every node once,
 * and a worker killed with SIGKILL ends the simulation with an error that names it.
 */
const NODES = 6;
const TUNING = { reconcileIntervalMs: 500, desiredWaitSeconds: 5, sampleIntervalMs: 5_000 };

describe('edgefleet sim --workers', () => {
  let fleet: TestFleet;
  const running: WorkerFleet[] = [];

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 1000 });
  });
  afterAll(async () => {
    for (const f of running) await f.stop().catch(() => {});
    await fleet?.close();
  });

  it('runs every node of the plan exactly once over two workers, with one merged summary', { timeout: 180_000 }, async () => {
    const options = { server: fleet.server.url, token: await fleet.createToken({ uses: NODES }), nodes: NODES, sites: 2, seed: 5, rps: 2, intervalMs: 1000 };
    const sim = await startWorkerFleet({ ...options, dataDir: join(fleet.dir, 'sim'), enrollConcurrency: 4, agent: TUNING }, { workers: 2 });
    running.push(sim);
    expect(sim.workers.map((w) => w.nodes)).toEqual([3, 3]);
    expect(new Set(sim.workers.map((w) => w.pid)).size).toBe(2);
    expect(sim.workers.every((w) => w.pid !== process.pid)).toBe(true);
    const events: string[] = [];
    sim.onEvent((e) => events.push(e.type));
    await sim.whenStarted();

    const expected = planFleet(options, '/')
      .map((p) => p.name)
      .sort();
    const listed = await eventually(
      async () => {
        const items = (await fleet.admin.listNodes()).items;
        return items.length === NODES && items.every((n) => n.status === 'online') ? items : undefined;
      },
      60_000,
      'every simulated node enrolled and online',
    );
    expect(listed.map((n) => n.name).sort()).toEqual(expected);
    // Each node's labels are those of its place in the plan, whichever worker ran it.
    const plans = new Map(planFleet(options, '/').map((p) => [p.name, p]));
    for (const n of listed) expect(n.labels['ai.accelerator']).toBe(plans.get(n.name)?.kind);

    await eventually(() => sim.summary().nodes.online === NODES, 30_000, 'merged summary: every node online');
    const final = await sim.stop();
    expect(final.nodes).toMatchObject({ total: NODES, started: NODES, failed: 0 });
    expect(final.workers.map((w) => w.nodes)).toEqual([3, 3]);
    expect(final.process.rssMb).toBe(final.workers.reduce((a, w) => a + w.rssMb, 0));
    expect(events.filter((t) => t === 'fleet-started')).toHaveLength(1);
    expect(events.filter((t) => t === 'node-enrolled')).toHaveLength(NODES);
    // Every worker has exited.
    for (const w of sim.workers) expect(() => process.kill(w.pid, 0)).toThrow();
    // The same nodes, still exactly once: nobody enrolled twice.
    expect((await fleet.admin.listNodes()).items).toHaveLength(NODES);
  });

  it('ends with an error naming the worker that died, and stops the others', { timeout: 180_000 }, async () => {
    const sim = await startWorkerFleet(
      { server: fleet.server.url, token: await fleet.createToken({ uses: 2 }), nodes: 2, seed: 9, rps: 1, intervalMs: 1000, agent: TUNING },
      { workers: 2, stderr: () => {} },
    );
    running.push(sim);
    const victim = sim.workers[1];
    if (victim === undefined) throw new Error('no second worker');
    process.kill(victim.pid, 'SIGKILL');
    await expect(sim.finished).rejects.toThrow(new RegExp(`simulator worker 1 of 2 \\(pid ${victim.pid}, 1 nodes\\) died: killed by SIGKILL`));
    for (const w of sim.workers) expect(() => process.kill(w.pid, 0)).toThrow();
  });

  it('edgefleet sim --workers 2 --duration prints the merged final summary', { timeout: 180_000 }, async () => {
    const file = join(fleet.dir, 'cli.token');
    writeFileSync(file, await fleet.createToken({ uses: 4 }));
    const res = await runCli(
      ...['sim', '--server', fleet.server.url, '--token-file', file, '--nodes', '4', '--sites', '2', '--workers', '2'],
      ...['--seed', '21', '--rps', '1', '--interval', '2s', '--duration', '40s'],
    );
    expect(res.err).not.toMatch(/died/);
    expect(res.code).toBe(0);
    expect(res.out).toMatch(/simulating 4 nodes in 2 site\(s\) over 2 worker process\(es\)/);
    const last = res.out.trim().split('\n').at(-1) ?? '';
    const final = JSON.parse(last) as { nodes: { total: number; started: number }; workers: Array<{ nodes: number }> };
    expect(final.nodes.total).toBe(4);
    expect(final.nodes.started).toBe(4);
    expect(final.workers.map((w) => w.nodes)).toEqual([2, 2]);
  });

  it('refuses --workers that make no sense before starting anything', async () => {
    const file = join(fleet.dir, 'bad.token');
    writeFileSync(file, await fleet.createToken({ uses: 1 }));
    const res = await runCli('sim', '--server', fleet.server.url, '--token-file', file, '--nodes', '2', '--workers', '3');
    expect(res.code).not.toBe(0);
    expect(res.err).toMatch(/--workers \(3\) is more than --nodes \(2\)/);
  });
});
