import { createPublicKey, generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseBootstrapToken, type TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, releaseKeyFingerprint } from '@edgefleet/protocol/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';
import { aYearFromNow, trustRootKey } from '../../test-support/release-keys.js';

/**
 * Issue 14, finding 8: a bootstrap token can name the release key a new node must pin
 * (`edgefleet token create --release-key NAME.pub`), so the node needs no trust in the server
 * for it. The attacker here is the server itself, taken over between token and enrollment:
 * it answers enrollments offering its own release key (after finding 1, a man in the middle
 * cannot speak for the server, so a compromised server is what is left).
 */

/** A release key as the server's store holds it. */
type ReleaseKeyRecord = Parameters<TestFleet['server']['store']['addReleaseKey']>[0];

/**
 * A root release key for `fleet`, as the store holds one: it signs its own expiry for the
 * fleet (anyone can make such a key for a fleet whose CA fingerprint he knows).
 */
function newKey(fleet: string): { pem: string; pair: KeyPairKeyObjectResult; record: ReleaseKeyRecord } {
  const pair = generateKeyPairSync('ed25519');
  const pem = pair.publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const { signature, expiresAt } = endorseKey(pair.publicKey, pair.privateKey, { fleet, expiresAt: aYearFromNow() });
  return {
    pem,
    pair,
    record: { keyId: publicKeyId(createPublicKey(pem)), publicKey: pem, signedBy: null, signature, expiresAt, revocation: null, createdAt: Date.now() },
  };
}

/** The keys the node pinned (release-keys.json), by id. */
function pinnedIds(agent: TestAgent): string[] {
  return (JSON.parse(readFileSync(join(agent.dataDir, 'release-keys.json'), 'utf8')) as TrustedKey[]).map((k) => k.keyId).sort();
}

async function factsOf(fleet: TestFleet, agent: TestAgent): Promise<{ security?: { releaseKeyPinning?: string } }> {
  return (await fleet.admin.getNode(agent.agent.state.nodeId as string)).facts as { security?: { releaseKeyPinning?: string } };
}

describe('a bootstrap token that names the release key to pin', () => {
  let fleet: TestFleet;
  let operatorKey: ReturnType<typeof newKey>;
  let attackerKey: ReturnType<typeof newKey>;

  beforeEach(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 500 });
    operatorKey = newKey(fleet.server.caFingerprint);
    attackerKey = newKey(fleet.server.caFingerprint);
    await trustRootKey(fleet.admin, fleet.server.caFingerprint, operatorKey.pair);
  }, 30_000);
  afterEach(async () => {
    await fleet?.close();
  });

  /** Takes the server over: from now on it offers `keys` to every enrolling node. */
  function compromise(keys: ReleaseKeyRecord[]): void {
    fleet.server.store.listReleaseKeys = async () => keys;
  }

  it('carries the full fingerprint of the key (EF2), and the server refuses a key it does not trust', async () => {
    const { token } = await fleet.admin.createBootstrapToken({ releaseKeyFingerprint: releaseKeyFingerprint(operatorKey.pem) });
    expect(token.startsWith('EF2')).toBe(true);
    expect(parseBootstrapToken(token)).toMatchObject({
      caFingerprint: fleet.server.caFingerprint,
      releaseKeyFingerprint: releaseKeyFingerprint(operatorKey.pem),
    });
    await expect(fleet.admin.createBootstrapToken({ releaseKeyFingerprint: releaseKeyFingerprint(attackerKey.pem) })).rejects.toMatchObject({
      status: 400,
      hint: expect.stringContaining('keys trust'),
    });
    // A key the root endorsed is trusted, but a token names the root: nodes pin from it.
    const signing = generateKeyPairSync('ed25519');
    const signingPem = signing.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    await fleet.admin.trustKey(
      signingPem,
      endorseKey(signing.publicKey, operatorKey.pair.privateKey, { fleet: fleet.server.caFingerprint, expiresAt: aYearFromNow() }),
    );
    await expect(fleet.admin.createBootstrapToken({ releaseKeyFingerprint: releaseKeyFingerprint(signingPem) })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('not a root key'),
    });
  });

  it('without it, a compromised server gets a new node to pin its own key (trust on first use), and the facts say first-use', async () => {
    const token = await fleet.createToken();
    compromise([attackerKey.record]);
    const agent = await fleet.startAgent('pi5-nohat', { token });
    await eventually(() => agent.agent.state.lastHeartbeatAt !== undefined, 20_000, 'the node enrolled');
    expect(pinnedIds(agent)).toEqual([attackerKey.record.keyId]);
    const facts = await eventually(async () => (await factsOf(fleet, agent)).security);
    expect(facts.releaseKeyPinning).toBe('first-use');
  });

  it('with it, a compromised server offering another key gets the enrollment refused: nothing pinned, no identity kept', async () => {
    const { token } = await fleet.admin.createBootstrapToken({ releaseKeyFingerprint: releaseKeyFingerprint(operatorKey.pem) });
    compromise([attackerKey.record]);
    const agent = await fleet.startAgent('pi5-nohat', { token });
    await expect(agent.done).rejects.toMatchObject({ code: 'server_untrusted', message: expect.stringContaining('does not offer the release key') });
    expect(existsSync(join(agent.dataDir, 'release-keys.json'))).toBe(false);
    expect(existsSync(join(agent.dataDir, 'identity.json'))).toBe(false);
  });

  it("with it, a key offered beside the token's key, and not endorsed by it, is not pinned", async () => {
    const { token } = await fleet.admin.createBootstrapToken({ releaseKeyFingerprint: releaseKeyFingerprint(operatorKey.pem) });
    compromise([operatorKey.record, attackerKey.record]);
    const agent = await fleet.startAgent('pi5-nohat', { token });
    await eventually(() => agent.agent.state.lastHeartbeatAt !== undefined, 20_000, 'the node enrolled');
    expect(pinnedIds(agent)).toEqual([operatorKey.record.keyId]);
  });

  it('with it, an honest server enrolls the node, which pins that key and says so in its facts', async () => {
    const { token } = await fleet.admin.createBootstrapToken({ releaseKeyFingerprint: releaseKeyFingerprint(operatorKey.pem) });
    const agent = await fleet.startAgent('pi5-nohat', { token });
    await eventually(() => agent.agent.state.lastHeartbeatAt !== undefined, 20_000, 'the node enrolled');
    expect(pinnedIds(agent)).toEqual([operatorKey.record.keyId]);
    const facts = await eventually(async () => (await factsOf(fleet, agent)).security?.releaseKeyPinning === 'token');
    expect(facts).toBe(true);
  });
});
