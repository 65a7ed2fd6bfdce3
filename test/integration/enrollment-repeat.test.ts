/**
 * An enrollment repeated by its agent (issue 18): at 10,000 nodes some agents timed out
 * waiting for the enrollment answer, retried with a new key, and the server made a second
 * node for each — an offline twin forever, and a use of the token burnt. The agent now
 * keeps its key across attempts (agent identity/enrollment-key.ts), and the server answers
 * the same token and key with the node it already made, on both engines, also when the two
 * attempts race.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgefleetError, type EnrollRequest } from '@edgefleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { csrForKey } from '../../packages/agent/src/identity/csr.js';
import type { ServerContext } from '../../packages/server/src/context.js';
import { ENROLLMENT_REPEAT_WINDOW_MS, enrollNode } from '../../packages/server/src/nodes/enroll.js';
import { openStore, type Store } from '../../packages/server/src/store/index.js';
import { createBootstrapToken } from '../../packages/server/src/tokens/service.js';
import { createTestDatabase } from '../../test-support/pg-database.js';
import { contextsOver, enrollRequest } from './support/unit-of-work-ops.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const engines: Array<{ name: string; open: (dir: string) => Promise<Store> }> = [
  { name: 'sqlite', open: (dir) => openStore('', join(dir, 'edgefleet.db')) },
  { name: 'postgres', open: async () => openStore(await createTestDatabase(), '') },
];

const quiet = { info: () => {} };

/** A first attempt's request and a repeat of it: the same key, a CSR made again. */
async function attemptAndRepeat(token: string, serial: string): Promise<[EnrollRequest, EnrollRequest]> {
  const { request, key } = await enrollRequest(token, 'line-camera', serial);
  return [request, { ...request, csr: csrForKey(key).csrPem }];
}

function publicKeyOf(certificatePem: string): string {
  return new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

async function refusal(p: Promise<unknown>): Promise<EdgefleetError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EdgefleetError);
  return err as EdgefleetError;
}

for (const engine of engines) {
  describe(`an enrollment repeated by its agent on ${engine.name}`, () => {
    let now = Date.now();
    async function setUp(): Promise<{ ctx: ServerContext; store: Store }> {
      const dir = mkdtempSync(join(tmpdir(), 'ef-enroll-repeat-'));
      dirs.push(dir);
      const store = await engine.open(dir);
      now = Date.now();
      const ctx = { ...(await contextsOver(store, dir, false)).seed, clock: () => now };
      return { ctx, store };
    }

    it('gets the same node and a certificate for the same key, and takes no second use of the token', async () => {
      const { ctx, store } = await setUp();
      try {
        const token = await createBootstrapToken(ctx, 'token:test', { uses: 1 });
        const [first, repeat] = await attemptAndRepeat(token.token, 'board-1');
        const a = await enrollNode(ctx, first, quiet);
        now += 30_000; // the agent's timeout and backoff
        const b = await enrollNode(ctx, repeat, quiet);
        expect(b.nodeId).toBe(a.nodeId);
        expect(b.name).toBe(a.name);
        expect(publicKeyOf(b.certificate)).toBe(publicKeyOf(a.certificate));
        expect(new X509Certificate(b.certificate).serialNumber).not.toBe(new X509Certificate(a.certificate).serialNumber);
        expect((await store.listNodes()).map((n) => n.id)).toEqual([a.nodeId]);
        // The one use went to the first attempt; the repeat took none (it would have failed: token_exhausted).
        expect((await store.getBootstrapToken(token.id))?.usesLeft).toBe(0);
        expect((await store.listAudit(100)).map((e) => e.action)).toEqual(expect.arrayContaining(['node.enroll', 'node.enroll-repeated']));
        // Another key with the spent token is a new node, and there is no use left for it.
        const other = await enrollRequest(token.token, 'line-camera', 'board-2');
        expect((await refusal(enrollNode(ctx, other.request, quiet))).code).toBe('token_exhausted');
      } finally {
        await store.close();
      }
    }, 60_000);

    it('makes one node of two attempts with the same key at once', async () => {
      const { ctx, store } = await setUp();
      try {
        const token = await createBootstrapToken(ctx, 'token:test', { uses: 5 });
        const [first, repeat] = await attemptAndRepeat(token.token, 'board-3');
        const answers = await Promise.all([enrollNode(ctx, first, quiet), enrollNode(ctx, repeat, quiet)]);
        expect(answers[1].nodeId).toBe(answers[0].nodeId);
        expect(await store.listNodes()).toHaveLength(1);
        expect((await store.getBootstrapToken(token.id))?.usesLeft).toBe(4);
      } finally {
        await store.close();
      }
    }, 60_000);

    it('refuses a repeat once the node uses its certificate, or after the repeat window', async () => {
      const { ctx, store } = await setUp();
      try {
        const token = await createBootstrapToken(ctx, 'token:test', { uses: 5 });
        // In use: the agent got its answer and runs; a second live credential is refused.
        const [first, repeat] = await attemptAndRepeat(token.token, 'board-4');
        const a = await enrollNode(ctx, first, quiet);
        const serial = (await store.listCertificates(a.nodeId))[0]?.serial as string;
        expect(await store.markCertificateUsed(serial, now)).toBe(true);
        const inUse = await refusal(enrollNode(ctx, repeat, quiet));
        expect(inUse).toMatchObject({ code: 'conflict', status: 409, hint: expect.stringContaining('new key') });
        expect(inUse.message).toContain(a.nodeId);

        // Unused, but older than the window: an agent that comes back days later does not
        // get a certificate for a node an operator may have given up on.
        const [late, lateRepeat] = await attemptAndRepeat(token.token, 'board-5');
        await enrollNode(ctx, late, quiet);
        now += ENROLLMENT_REPEAT_WINDOW_MS + 1;
        expect((await refusal(enrollNode(ctx, lateRepeat, quiet))).code).toBe('conflict');
        expect(await store.listNodes()).toHaveLength(2);
        expect((await store.getBootstrapToken(token.id))?.usesLeft).toBe(3);
      } finally {
        await store.close();
      }
    }, 60_000);
  });
}
