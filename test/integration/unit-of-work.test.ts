/**
 * Every audited change commits with its audit entry, or neither does. A child process runs
 * the real services over a real store (a SQLite file, or a PostgreSQL database); the
 * services' `afterChange` seam SIGKILLs it inside the unit of work, after the change and
 * before the audit entry. Reopening the store finds neither; without the kill it finds both.
 * The operations, one per audited action, are in support/unit-of-work-ops.ts.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgefleetError, type EnrollRequest } from '@edgefleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerContext } from '../../packages/server/src/context.js';
import { enrollNode } from '../../packages/server/src/nodes/enroll.js';
import { openStore, type Store } from '../../packages/server/src/store/index.js';
import { createBootstrapToken } from '../../packages/server/src/tokens/service.js';
import { createTestDatabase } from '../../test-support/pg-database.js';
import { contextsOver, enrollRequest as enrollRequest2, OPERATIONS } from './support/unit-of-work-ops.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHILD = join(import.meta.dirname, 'support/unit-of-work-child.ts');

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-uow-'));
  dirs.push(dir);
  return dir;
}

/** The engines every audited change is killed on: a SQLite file in the case's folder, or a fresh PostgreSQL database. */
const killEngines: Array<{ name: string; location: () => Promise<string> }> = [
  { name: 'sqlite', location: async () => 'sqlite' },
  { name: 'postgres', location: () => createTestDatabase() },
];

/** Runs one operation in a child that is killed inside its unit of work; resolves with how it ended (an exit code or a signal), its output and what it seeded. */
function runChild(op: string, dir: string, where: string): Promise<{ ended: string; stdout: string; stderr: string; seeded: Record<string, string> }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--conditions=edgefleet:source', '--import', 'tsx', CHILD, op, dir, where, 'kill'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => {
      stdout += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith('seeded '));
      done({ ended: signal ?? String(code), stdout, stderr, seeded: line === undefined ? {} : JSON.parse(line.slice('seeded '.length)) });
    });
  });
}

async function withStore<T>(dir: string, where: string, read: (store: Store) => Promise<T>): Promise<T> {
  const store = where === 'sqlite' ? await openStore('', join(dir, 'edgefleet.db')) : await openStore(where, '');
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

for (const engine of killEngines) {
  describe(`unit of work on ${engine.name}: a change and its audit entry commit together or not at all`, () => {
    for (const [op, c] of Object.entries(OPERATIONS)) {
      it(`${op} (${c.action}): killed between the change and its audit entry, neither is stored; otherwise both are`, async () => {
        const killed = tempDir();
        const killedAt = await engine.location();
        const run = await runChild(op, killed, killedAt);
        expect(run.ended, run.stderr).toBe('SIGKILL');
        expect(run.stdout).not.toContain('done');
        await withStore(killed, killedAt, async (store) => {
          expect(await c.changed(store, run.seeded)).toBe(false);
          expect((await store.listAudit(100)).map((e) => e.action)).not.toContain(c.action);
        });

        // The same operation run to its end (here: nothing kills this process).
        const whole = tempDir();
        const wholeAt = await engine.location();
        let seeded: Record<string, string> = {};
        await withStore(whole, wholeAt, async (store) =>
          c.run(await contextsOver(store, whole, false), (s) => {
            seeded = s;
          }),
        );
        await withStore(whole, wholeAt, async (store) => {
          expect(await c.changed(store, seeded)).toBe(true);
          expect((await store.listAudit(100)).map((e) => e.action)).toContain(c.action);
        });
      }, 120_000);
    }
  });
}

/** A store whose units of work do not see an existing board serial, as when another enrollment of it commits between the read and the insert. */
function racingSerialStore(store: Store): Store {
  const blind = (tx: Store): Store => new Proxy(tx, { get: (t, p, r) => (p === 'getNodeByHardwareSerial' ? async () => undefined : Reflect.get(t, p, r)) });
  return new Proxy(store, {
    get: (t, p, r) => (p === 'transaction' ? <T>(work: (tx: Store) => Promise<T>) => t.transaction((tx) => work(blind(tx))) : Reflect.get(t, p, r)),
  });
}

/** The two engines the enrollment cases run on: SQLite serialises units, PostgreSQL runs them at once. */
const engines: Array<{ name: string; open: (dir: string) => Promise<Store> }> = [
  { name: 'sqlite', open: (dir) => openStore('', join(dir, 'edgefleet.db')) },
  { name: 'postgres', open: async () => openStore(await createTestDatabase(), '') },
];

async function contextOver(store: Store, dir: string): Promise<ServerContext> {
  return (await contextsOver(store, dir, false)).seed;
}

async function enrollRequest(token: string, name: string, serial: string): Promise<EnrollRequest> {
  return (await enrollRequest2(token, name, serial)).request;
}

const quiet = { info: () => {} };

for (const engine of engines) {
  describe(`enrollment as one unit of work on ${engine.name}`, () => {
    it('leaves the token uses unchanged when it fails with a 409 after the token check', async () => {
      const dir = tempDir();
      const store = await engine.open(dir);
      try {
        const ctx = await contextOver(store, dir);
        const first = await createBootstrapToken(ctx, 'token:test', { uses: 1 });
        await enrollNode(ctx, await enrollRequest(first.token, 'first', 'board-serial-1'), quiet);

        const second = await createBootstrapToken(ctx, 'token:test', { uses: 2 });
        const err = await enrollNode({ ...ctx, store: racingSerialStore(store) }, await enrollRequest(second.token, 'second', 'board-serial-1'), quiet).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(EdgefleetError);
        expect((err as EdgefleetError).status).toBe(409);
        expect((await store.getBootstrapToken(second.id))?.usesLeft).toBe(2);
        expect((await store.listNodes()).map((n) => n.name)).toEqual(['first']);
        expect((await store.listAudit(100)).filter((e) => e.action === 'node.enroll')).toHaveLength(1);

        // The same request without the race enrolls a new node (the serial is shown as a
        // conflict, never handed over) and takes one use.
        await enrollNode(ctx, await enrollRequest(second.token, 'second', 'board-serial-1'), quiet);
        expect((await store.getBootstrapToken(second.id))?.usesLeft).toBe(1);
      } finally {
        await store.close();
      }
    }, 60_000);

    it('enrolls nodes that ask for the same name at once under distinct names, one use each', async () => {
      const dir = tempDir();
      const store = await engine.open(dir);
      try {
        const ctx = await contextOver(store, dir);
        const token = await createBootstrapToken(ctx, 'token:test', { uses: 4 });
        const requests = await Promise.all([1, 2, 3].map((i) => enrollRequest(token.token, 'line-camera', `board-${i}`)));
        const enrolled = await Promise.all(requests.map((r) => enrollNode(ctx, r, quiet)));
        expect(new Set(enrolled.map((e) => e.name)).size).toBe(3);
        expect(enrolled.map((e) => e.name)).toContain('line-camera');
        expect((await store.getBootstrapToken(token.id))?.usesLeft).toBe(1);
        expect((await store.listAudit(100)).filter((e) => e.action === 'node.enroll')).toHaveLength(3);
      } finally {
        await store.close();
      }
    }, 60_000);
  });
}
