/**
 * The child process of test/integration/unit-of-work.test.ts: opens the real SQLite store of
 * a data folder and performs one audited change through its real service. With `kill` as
 * the third argument, the service's `afterChange` seam SIGKILLs this process inside the
 * unit of work, after the change and before its audit entry; otherwise it prints "done".
 *
 *   node --conditions=edgefleet:source --import tsx unit-of-work-child.ts OP DIR [kill]
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { ArtifactStore } from '../../../packages/server/src/artifacts/store.js';
import type { ServerContext } from '../../../packages/server/src/context.js';
import { loadOrCreateDataDir } from '../../../packages/server/src/data-dir.js';
import { deleteDeployment } from '../../../packages/server/src/deployments/apply.js';
import { applyRequest } from '../../../packages/server/src/deployments/service.js';
import { decommissionNode, labelNode } from '../../../packages/server/src/nodes/service.js';
import { createRegistry } from '../../../packages/server/src/registries/service.js';
import { openStore } from '../../../packages/server/src/store/index.js';
import { createApiToken, createBootstrapToken } from '../../../packages/server/src/tokens/service.js';

/** The node the `label` operation labels (seeded, and committed, before the audited change; the test knows its id). */
const LABELLED_NODE = 'node-kill-test';

const [op, dir, mode] = process.argv.slice(2);
if (op === undefined || dir === undefined) throw new Error('usage: unit-of-work-child.ts OP DIR [kill]');

const now = Date.now();
const store = await openStore('', join(dir, 'edgefleet.db'));
/** The context without the kill seam: what an operation seeds (committed) before its audited change. */
const seedCtx: ServerContext = {
  store,
  dataDir: await loadOrCreateDataDir(dir, [], now),
  clock: () => Date.now(),
  log: pino({ level: 'silent' }),
  heartbeatIntervalMs: 10_000,
  nodeCertLifetimeMs: 86_400_000,
  artifacts: new ArtifactStore(join(dir, 'artifacts')),
  requireSigned: false,
  events: new EventEmitter(),
};
const ctx: ServerContext = mode === 'kill' ? { ...seedCtx, afterChange: () => void process.kill(process.pid, 'SIGKILL') } : seedCtx;

/** Seeds the node the `label` and `decommission` operations change, committed before the audited change. */
async function seedNode(): Promise<void> {
  if ((await store.getNode(LABELLED_NODE)) !== undefined) return;
  await store.createNode({
    id: LABELLED_NODE,
    name: 'kill-test',
    hardwareSerial: null,
    detectedLabels: {},
    operatorLabels: {},
    facts: {},
    certSerial: '',
    certNotAfter: 0,
    lastSeen: null,
    createdAt: now,
  });
}

/** Applies the `detector` deployment through `through` (the seed context, or the one that may be killed). */
async function applyDetector(through: ServerContext): Promise<void> {
  const artifact = await through.artifacts.put(Readable.from([Buffer.from('model bytes')]));
  const release = { version: '1', model: { artifact: artifact.digest, format: 'other' } };
  await applyRequest(through, 'token:kill-test', {
    manifests: [{ apiVersion: 'edgefleet.dev/v1', kind: 'Deployment', metadata: { name: 'detector' }, spec: { selector: 'cpu.arch=arm64', release } }],
  });
}

switch (op) {
  case 'bootstrap-token':
    await createBootstrapToken(ctx, 'token:kill-test', { uses: 3 });
    break;
  case 'label':
    await seedNode();
    await labelNode(ctx, 'token:kill-test', LABELLED_NODE, { set: { zone: 'a' }, remove: [] });
    break;
  case 'apply':
    await applyDetector(ctx);
    break;
  case 'api-token':
    await createApiToken(ctx, 'token:kill-test', { role: 'viewer', name: 'kill-test' });
    break;
  case 'decommission':
    await seedNode();
    await decommissionNode(ctx, 'token:kill-test', LABELLED_NODE, { info: () => {} });
    break;
  case 'delete-deployment':
    await applyDetector(seedCtx);
    await deleteDeployment(ctx, 'detector', 'token:kill-test');
    break;
  case 'registry':
    await createRegistry(ctx, 'token:kill-test', { name: 'harbor', server: 'https://harbor.example:5000', username: 'robot', password: 'kill-test-password' });
    break;
  default:
    throw new Error(`unknown operation ${op}`);
}
await store.close();
process.stdout.write('done\n');
