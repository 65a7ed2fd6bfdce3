/**
 * Every audited change of the server, as an operation the unit-of-work test runs through
 * the real service: what it seeds (committed, through the seed context, before the audited
 * change), the change itself (through the context that may be killed), and how to tell from
 * the store whether the change is there. Shared by test/integration/unit-of-work.test.ts and
 * its child process (support/unit-of-work-child.ts).
 *
 * Not here: `artifact.push` (the blob is a file outside the database; audited after it is
 * stored, by design) and `node.enroll-refused` (an audit entry with no change beside it).
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type EnrollRequest, expiredRenewalMessage } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, revokeKey, validateManifest } from '@edgefleet/protocol/node';
import { pino } from 'pino';
import { newKeyAndCsr } from '../../../packages/agent/src/identity/csr.js';
import { ArtifactStore } from '../../../packages/server/src/artifacts/store.js';
import type { ServerContext } from '../../../packages/server/src/context.js';
import { loadOrCreateDataDir } from '../../../packages/server/src/data-dir.js';
import { applyManifests, deleteDeployment } from '../../../packages/server/src/deployments/apply.js';
import { applyRequest, revokeReleaseKey, trustReleaseKey } from '../../../packages/server/src/deployments/service.js';
import { createSource, removeSource } from '../../../packages/server/src/gitops/reconcile.js';
import { createReenrollToken, renewExpiredCertificate, revokeNodeCertificate } from '../../../packages/server/src/nodes/certificates.js';
import { enrollNode } from '../../../packages/server/src/nodes/enroll.js';
import { decommissionNode, labelNode, renewNodeCertificate } from '../../../packages/server/src/nodes/service.js';
import { certificateFingerprint } from '../../../packages/server/src/pki/ca.js';
import { createRegistry, deleteRegistry } from '../../../packages/server/src/registries/service.js';
import { sendRolloutCommand } from '../../../packages/server/src/rollouts/service.js';
import type { Store } from '../../../packages/server/src/store/index.js';
import { createProvisionBatch } from '../../../packages/server/src/tokens/provision.js';
import { createApiToken, createBootstrapToken, deleteApiToken, deleteBootstrapToken } from '../../../packages/server/src/tokens/service.js';

/** The node the node operations seed and change. */
export const LABELLED_NODE = 'node-kill-test';
const ACTOR = 'token:kill-test';
const quiet = { info: () => {} };
const DAY_MS = 86_400_000;

/** The contexts of one run: `seed` never dies; `ctx` SIGKILLs its process between the change and the audit entry when killing. */
interface Contexts {
  seed: ServerContext;
  ctx: ServerContext;
  store: Store;
}

/** Both contexts over `store` and the data folder `dir`; `kill` arms the `afterChange` seam. */
export async function contextsOver(store: Store, dir: string, kill: boolean): Promise<Contexts> {
  const seed: ServerContext = {
    store,
    dataDir: await loadOrCreateDataDir(dir, [], Date.now()),
    clock: () => Date.now(),
    log: pino({ level: 'silent' }),
    heartbeatIntervalMs: 10_000,
    nodeCertLifetimeMs: DAY_MS,
    artifacts: new ArtifactStore(join(dir, 'artifacts')),
    requireSigned: false,
    events: new EventEmitter(),
  };
  return { seed, ctx: kill ? { ...seed, afterChange: () => void process.kill(process.pid, 'SIGKILL') } : seed, store };
}

/** An enrollment request of a Pi with this board serial, with the key its CSR is for. */
export async function enrollRequest(token: string, name: string, serial: string): Promise<{ request: EnrollRequest; key: KeyObject }> {
  const { keyPem, csrPem } = await newKeyAndCsr();
  return {
    key: createPrivateKey(keyPem),
    request: {
      token,
      csr: csrPem,
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
    },
  };
}

async function seedNode(store: Store): Promise<void> {
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
    createdAt: Date.now(),
  });
}

/** Enrolls the board `kill-board` through the seed context; its node id, certificate and key. */
async function seedEnrolled(c: Contexts): Promise<{ nodeId: string; certificate: string; key: KeyObject }> {
  const token = await createBootstrapToken(c.seed, ACTOR, { uses: 1 });
  const { request, key } = await enrollRequest(token.token, 'kill-board', 'kill-board-serial');
  const enrolled = await enrollNode(c.seed, request, quiet);
  return { nodeId: enrolled.nodeId, certificate: enrolled.certificate, key };
}

const serialOf = (pem: string): string => new X509Certificate(pem).serialNumber.toLowerCase();

/** The `detector` manifest, with a real artifact stored through `through` so the release is whole. */
async function detector(through: ServerContext, version = '1', rollout?: Record<string, unknown>): Promise<Record<string, unknown>> {
  const artifact = await through.artifacts.put(Readable.from([Buffer.from('model bytes')]));
  const release = { version, model: { artifact: artifact.digest, format: 'other' } };
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'detector' },
    spec: { selector: 'cpu.arch=arm64', release, ...(rollout ? { rollout } : {}) },
  };
}

/** Applies `detector` by hand (`edgefleet apply`) through `through`. */
async function applyDetector(through: ServerContext, version = '1', rollout?: Record<string, unknown>): Promise<void> {
  await applyRequest(through, ACTOR, { manifests: [(await detector(through, version, rollout)) as never] });
}

/** Applies `detector` as source `repo`'s, at `commit`, through the seed context. */
async function applyFromSource(c: Contexts, commit: string): Promise<void> {
  const manifest = validateManifest(await detector(c.seed), 'repo/detector.yaml', 1);
  await applyManifests(c.seed, [manifest], { source: 'repo', commit, actor: ACTOR, prune: true });
}

function releaseKey(): { privateKey: KeyObject; publicKey: KeyObject; pem: string; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), id: publicKeyId(publicKey) };
}
const KEY_TERMS = (c: Contexts) => ({ fleet: c.seed.dataDir.caFingerprint, expiresAt: new Date(Date.now() + 365 * DAY_MS).toISOString() });

/** What a case leaves for `changed` to check: ids only known after seeding. */
type Seeded = Record<string, string>;

export interface AuditedOperation {
  /** The audit action its change writes. */
  action: string;
  /** Seeds (through `c.seed`) and performs the audited change (through `c.ctx`); returns what `changed` needs. */
  run(c: Contexts, note: (seeded: Seeded) => void): Promise<void>;
  /** Whether the store holds the change. */
  changed(store: Store, seeded: Seeded): Promise<boolean>;
}

/** Every audited change, by operation name. */
export const OPERATIONS: Record<string, AuditedOperation> = {
  'bootstrap-token': {
    action: 'bootstrap-token.create',
    run: async (c) => void (await createBootstrapToken(c.ctx, ACTOR, { uses: 3 })),
    changed: async (s) => (await s.listBootstrapTokens()).length > 0,
  },
  'delete-bootstrap-token': {
    action: 'bootstrap-token.delete',
    run: async (c, note) => {
      const t = await createBootstrapToken(c.seed, ACTOR, { uses: 3 });
      note({ token: t.id });
      await deleteBootstrapToken(c.ctx, ACTOR, t.id);
    },
    changed: async (s, seeded) => (await s.getBootstrapToken(seeded.token as string)) === undefined,
  },
  'api-token': {
    action: 'api-token.create',
    run: async (c) => void (await createApiToken(c.ctx, ACTOR, { role: 'viewer', name: 'kill-test' })),
    changed: async (s) => (await s.listApiTokens()).some((t) => t.name === 'kill-test'),
  },
  'delete-api-token': {
    action: 'api-token.delete',
    run: async (c, note) => {
      const t = await createApiToken(c.seed, ACTOR, { role: 'viewer', name: 'kill-test' });
      note({ token: t.id });
      await deleteApiToken(c.ctx, ACTOR, t.id);
    },
    changed: async (s, seeded) => !(await s.listApiTokens()).some((t) => t.id === seeded.token),
  },
  'provision-batch': {
    action: 'provision-batch.create',
    run: async (c) =>
      void (await createProvisionBatch(c.ctx, ACTOR, {
        devices: [
          { serial: '10000000aaaa0001', site: 'plant-a' },
          { serial: '10000000aaaa0002', site: 'plant-a' },
        ],
      })),
    changed: async (s) => (await s.listBootstrapTokens()).length > 0,
  },
  enroll: {
    action: 'node.enroll',
    run: async (c, note) => {
      const token = await createBootstrapToken(c.seed, ACTOR, { uses: 1 });
      note({ token: token.id });
      await enrollNode(c.ctx, (await enrollRequest(token.token, 'kill-board', 'kill-board-serial')).request, quiet);
    },
    // The node, its certificate and the token's use go together.
    changed: async (s, seeded) => (await s.listNodes()).length > 0 || (await s.getBootstrapToken(seeded.token as string))?.usesLeft === 0,
  },
  reenroll: {
    action: 'node.reenroll',
    run: async (c, note) => {
      const { nodeId } = await seedEnrolled(c);
      const token = await createReenrollToken(c.seed, ACTOR, nodeId, {});
      note({ token: token.id });
      await enrollNode(c.ctx, (await enrollRequest(token.token, 'kill-board', 'kill-board-serial')).request, quiet);
    },
    changed: async (s, seeded) => (await s.getBootstrapToken(seeded.token as string))?.usesLeft === 0,
  },
  'reenroll-token': {
    action: 'node.reenroll-token',
    run: async (c) => {
      await seedNode(c.store);
      await createReenrollToken(c.ctx, ACTOR, LABELLED_NODE, {});
    },
    changed: async (s) => (await s.listBootstrapTokens()).some((t) => t.nodeId === LABELLED_NODE),
  },
  renew: {
    action: 'node.renew',
    run: async (c, note) => {
      const { nodeId, certificate } = await seedEnrolled(c);
      note({ node: nodeId, serial: serialOf(certificate) });
      const node = await c.store.getNode(nodeId);
      if (node === undefined) throw new Error('the seeded node is gone');
      await renewNodeCertificate(c.ctx, node, serialOf(certificate), { csr: (await newKeyAndCsr()).csrPem }, quiet);
    },
    changed: async (s, seeded) => (await s.listCertificates(seeded.node as string)).length > 1,
  },
  'renew-expired': {
    action: 'node.renew',
    run: async (c, note) => {
      const { nodeId, certificate, key } = await seedEnrolled(c);
      note({ node: nodeId });
      const csr = (await newKeyAndCsr()).csrPem;
      const message = expiredRenewalMessage({
        caFingerprint: c.seed.dataDir.caFingerprint,
        certificateFingerprint: certificateFingerprint(new X509Certificate(certificate).raw),
        csr,
      });
      // Two days on: the one-day certificate expired, well inside the renewal grace.
      const later = { ...c.ctx, clock: () => Date.now() + 2 * DAY_MS };
      await renewExpiredCertificate(later, { certificate, csr, signature: sign('sha256', Buffer.from(message), key).toString('base64') }, quiet);
    },
    changed: async (s, seeded) => (await s.listCertificates(seeded.node as string)).length > 1,
  },
  'revoke-certificate': {
    action: 'node.certificate.revoke',
    run: async (c, note) => {
      const { nodeId, certificate } = await seedEnrolled(c);
      note({ node: nodeId });
      await revokeNodeCertificate(c.ctx, ACTOR, nodeId, serialOf(certificate), quiet);
    },
    changed: async (s, seeded) => (await s.listCertificates(seeded.node as string)).some((cert) => cert.revokedAt !== null),
  },
  label: {
    action: 'node.label',
    run: async (c) => {
      await seedNode(c.store);
      await labelNode(c.ctx, ACTOR, LABELLED_NODE, { set: { zone: 'a' }, remove: [] });
    },
    changed: async (s) => (await s.getNode(LABELLED_NODE))?.operatorLabels.zone === 'a',
  },
  decommission: {
    action: 'node.decommission',
    run: async (c) => {
      await seedNode(c.store);
      await decommissionNode(c.ctx, ACTOR, LABELLED_NODE, quiet);
    },
    changed: async (s) => (await s.getNode(LABELLED_NODE)) === undefined,
  },
  apply: {
    action: 'deployment.create',
    run: (c) => applyDetector(c.ctx),
    changed: async (s) => (await s.getDeployment('detector')) !== undefined,
  },
  'apply-update': {
    action: 'deployment.update',
    run: async (c) => {
      await applyDetector(c.seed, '1');
      await applyDetector(c.ctx, '2');
    },
    changed: async (s) => (await s.getDeployment('detector'))?.generation === 2,
  },
  prune: {
    action: 'deployment.prune',
    run: async (c) => {
      await applyFromSource(c, 'a'.repeat(40));
      await applyManifests(c.ctx, [], { source: 'repo', commit: 'b'.repeat(40), actor: ACTOR, prune: true });
    },
    changed: async (s) => (await s.getDeployment('detector')) === undefined,
  },
  'delete-deployment': {
    action: 'deployment.delete',
    run: async (c) => {
      await applyDetector(c.seed);
      await deleteDeployment(c.ctx, 'detector', ACTOR);
    },
    changed: async (s) => (await s.getDeployment('detector')) === undefined,
  },
  'rollout-command': {
    action: 'rollout.pause',
    run: async (c) => {
      await applyDetector(c.seed, '1', { steps: [{ percent: 50, bake: '1m' }, { percent: 100 }] });
      await sendRolloutCommand(c.ctx, ACTOR, 'detector', 'pause', {});
    },
    changed: async (s) => (await s.listRolloutCommands('detector')).length > 0,
  },
  'trust-key': {
    action: 'release-key.trust',
    run: async (c) => {
      const root = releaseKey();
      await trustReleaseKey(c.ctx, ACTOR, { publicKey: root.pem, ...endorseKey(root.publicKey, root.privateKey, KEY_TERMS(c)) });
    },
    changed: async (s) => (await s.listReleaseKeys()).length > 0,
  },
  'revoke-key': {
    action: 'release-key.revoke',
    run: async (c, note) => {
      const root = releaseKey();
      const second = releaseKey();
      await trustReleaseKey(c.seed, ACTOR, { publicKey: root.pem, ...endorseKey(root.publicKey, root.privateKey, KEY_TERMS(c)) });
      await trustReleaseKey(c.seed, ACTOR, { publicKey: second.pem, ...endorseKey(second.publicKey, root.privateKey, KEY_TERMS(c)) });
      note({ key: second.id });
      await revokeReleaseKey(c.ctx, ACTOR, second.id, revokeKey(second.id, root.privateKey, { fleet: c.seed.dataDir.caFingerprint }));
    },
    changed: async (s, seeded) => (await s.listReleaseKeys()).some((k) => k.keyId === seeded.key && k.revocation !== null),
  },
  registry: {
    action: 'registry.add',
    run: async (c) =>
      void (await createRegistry(c.ctx, ACTOR, { name: 'harbor', server: 'https://harbor.example:5000', username: 'robot', password: 'kill-test-password' })),
    changed: async (s) => (await s.getRegistry('harbor')) !== undefined,
  },
  'replace-registry': {
    action: 'registry.replace',
    run: async (c) => {
      await createRegistry(c.seed, ACTOR, { name: 'harbor', server: 'https://harbor.example:5000', username: 'robot', password: 'kill-test-password' });
      await createRegistry(c.ctx, ACTOR, { name: 'harbor', server: 'https://harbor.example:5001', username: 'robot', password: 'kill-test-password' });
    },
    changed: async (s) => (await s.getRegistry('harbor'))?.server === 'https://harbor.example:5001',
  },
  'delete-registry': {
    action: 'registry.delete',
    run: async (c) => {
      await createRegistry(c.seed, ACTOR, { name: 'harbor', server: 'https://harbor.example:5000', username: 'robot', password: 'kill-test-password' });
      await deleteRegistry(c.ctx, ACTOR, 'harbor');
    },
    changed: async (s) => (await s.getRegistry('harbor')) === undefined,
  },
  'create-source': {
    action: 'source.create',
    run: async (c) => void (await createSource(c.ctx, { name: 'repo', url: '/nowhere/repo.git', branch: 'main', path: '.', intervalMs: 60_000 }, ACTOR)),
    changed: async (s) => (await s.getSource('repo')) !== undefined,
  },
  'delete-source': {
    action: 'source.delete',
    run: async (c) => {
      await createSource(c.seed, { name: 'repo', url: '/nowhere/repo.git', branch: 'main', path: '.', intervalMs: 60_000 }, ACTOR);
      await applyFromSource(c, 'a'.repeat(40));
      await removeSource(c.ctx, 'repo', ACTOR);
    },
    // The source and the deployment it owned go together.
    changed: async (s) => (await s.getSource('repo')) === undefined || (await s.getDeployment('detector')) === undefined,
  },
};
