/**
 * Every audited change commits with its audit entry, or neither does. A child process runs
 * the real services over a real SQLite file; the services' `afterChange` seam SIGKILLs it
 * inside the unit of work, after the change and before the audit entry. Reopening the
 * store finds neither; without the kill it finds both.
 */
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EdgefleetError, type EnrollRequest } from '@edgefleet/protocol';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { newKeyAndCsr } from '../../packages/agent/src/identity/csr.js';
import { ArtifactStore } from '../../packages/server/src/artifacts/store.js';
import type { ServerContext } from '../../packages/server/src/context.js';
import { loadOrCreateDataDir } from '../../packages/server/src/data-dir.js';
import { enrollNode } from '../../packages/server/src/nodes/enroll.js';
import { openStore, type Store } from '../../packages/server/src/store/index.js';
import { createBootstrapToken } from '../../packages/server/src/tokens/service.js';
import { createTestDatabase } from '../../test-support/pg-database.js';

const ROOT = resolve(import.meta.dirname, '../..');
const CHILD = join(import.meta.dirname, 'support/unit-of-work-child.ts');
/** The node the child's `label` and `decommission` operations seed and change (its LABELLED_NODE). */
const LABELLED_NODE = 'node-kill-test';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-uow-'));
  dirs.push(dir);
  return dir;
}

/** Runs one operation in a child; resolves with how it ended (an exit code or a signal) and its output. */
function runChild(op: string, dir: string, kill: boolean): Promise<{ ended: string; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--conditions=edgefleet:source', '--import', 'tsx', CHILD, op, dir, ...(kill ? ['kill'] : [])], {
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
    child.on('exit', (code, signal) => done({ ended: signal ?? String(code), stdout, stderr }));
  });
}

async function withStore<T>(dir: string, read: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore('', join(dir, 'edgefleet.db'));
  try {
    return await read(store);
  } finally {
    await store.close();
  }
}

/** Each audited change: what it writes, and the audit action that goes with it. */
const cases: Array<{ op: string; action: string; changed: (store: Store) => Promise<boolean> }> = [
  { op: 'bootstrap-token', action: 'bootstrap-token.create', changed: async (s) => (await s.listBootstrapTokens()).length > 0 },
  { op: 'label', action: 'node.label', changed: async (s) => (await s.getNode(LABELLED_NODE))?.operatorLabels.zone === 'a' },
  { op: 'apply', action: 'deployment.create', changed: async (s) => (await s.getDeployment('detector')) !== undefined },
  { op: 'registry', action: 'registry.add', changed: async (s) => (await s.getRegistry('harbor')) !== undefined },
  { op: 'api-token', action: 'api-token.create', changed: async (s) => (await s.listApiTokens()).some((t) => t.name === 'kill-test') },
  { op: 'decommission', action: 'node.decommission', changed: async (s) => (await s.getNode(LABELLED_NODE)) === undefined },
  { op: 'delete-deployment', action: 'deployment.delete', changed: async (s) => (await s.getDeployment('detector')) === undefined },
];

describe('unit of work: a change and its audit entry commit together or not at all', () => {
  for (const c of cases) {
    it(`${c.op}: killed between the change and its audit entry, neither is stored; otherwise both are`, async () => {
      const killed = tempDir();
      const run = await runChild(c.op, killed, true);
      expect(run.ended, run.stderr).toBe('SIGKILL');
      expect(run.stdout).not.toContain('done');
      await withStore(killed, async (store) => {
        expect(await c.changed(store)).toBe(false);
        expect((await store.listAudit(100)).map((e) => e.action)).not.toContain(c.action);
      });

      const whole = tempDir();
      const ok = await runChild(c.op, whole, false);
      expect(ok.ended, ok.stderr).toBe('0');
      await withStore(whole, async (store) => {
        expect(await c.changed(store)).toBe(true);
        expect((await store.listAudit(100)).map((e) => e.action)).toContain(c.action);
      });
    }, 60_000);
  }
});

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
  return {
    store,
    dataDir: await loadOrCreateDataDir(dir, [], Date.now()),
    clock: () => Date.now(),
    log: pino({ level: 'silent' }),
    heartbeatIntervalMs: 10_000,
    nodeCertLifetimeMs: 86_400_000,
    artifacts: new ArtifactStore(join(dir, 'artifacts')),
    requireSigned: false,
    events: new EventEmitter(),
  };
}

async function enrollRequest(token: string, name: string, serial: string): Promise<EnrollRequest> {
  return {
    token,
    csr: (await newKeyAndCsr()).csrPem,
    name,
    labels: { 'cpu.arch': 'arm64' },
    facts: {
      board: { model: 'Raspberry Pi 5', slug: 'raspberrypi5', serial, revisionCode: null },
      cpu: { arch: 'arm64', kernelArch: 'aarch64', cores: 4 },
      memoryBytes: null,
      firmware: { bootloaderBuildTime: null, version: null },
      thermal: { temperatureC: null, throttledBits: null },
      accelerators: [],
      hostname: name,
      agentVersion: '0.1.0',
    },
  };
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
