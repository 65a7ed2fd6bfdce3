import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, releaseKeyFingerprint } from '@edgefleet/protocol/node';
import { afterAll, describe, expect, it } from 'vitest';
import { enrollmentPins, releaseKeyPinning, saveTokenPin } from '../../src/session/release-key-pin.js';

const FLEET = 'ab'.repeat(32);
const NOW = Date.parse('2026-12-03T12:00:00.000Z');
const CTX = { fleet: FLEET, now: NOW };
const EXPIRES = '2027-12-03T12:00:00.000Z';

/** A root key for FLEET: it signs its own expiry, as `keys trust` makes the first key. */
function key(): { priv: KeyObject; record: TrustedKey } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const { signature, expiresAt } = endorseKey(publicKey, privateKey, { fleet: FLEET, expiresAt: EXPIRES });
  return { priv: privateKey, record: { keyId: publicKeyId(publicKey), publicKey: pem, signedBy: null, signature, expiresAt, revocation: null } };
}

const ids = (pins: { record: TrustedKey }[]): string[] => pins.map((k) => k.record.keyId);

describe('enrollmentPins', () => {
  const operator = key();
  const attacker = key();
  const fp = releaseKeyFingerprint(operator.record.publicKey);

  it('pins every valid root offered when the token names none (trust on first use)', () => {
    expect(ids(enrollmentPins([operator.record, attacker.record], CTX, undefined)).sort()).toEqual([operator.record.keyId, attacker.record.keyId].sort());
  });

  it("pins only the token's key, and refuses an answer that does not offer it", () => {
    expect(ids(enrollmentPins([attacker.record, operator.record], CTX, fp))).toEqual([operator.record.keyId]);
    expect(() => enrollmentPins([attacker.record], CTX, fp)).toThrow(expect.objectContaining({ code: 'server_untrusted' }));
    expect(() => enrollmentPins([], CTX, fp)).toThrow(/offers none/);
  });

  it('refuses the key under a borrowed id, or with a broken self-endorsement; pins keys it endorses', () => {
    expect(() => enrollmentPins([{ ...operator.record, keyId: attacker.record.keyId }], CTX, fp)).toThrow(/does not offer/);
    expect(() => enrollmentPins([{ ...operator.record, expiresAt: '2099-01-01T00:00:00.000Z' }], CTX, fp)).toThrow(/does not offer/);
    const next = key();
    const endorsed: TrustedKey = { ...next.record, ...endorseKey(createPublicKey(next.record.publicKey), operator.priv, { fleet: FLEET, expiresAt: EXPIRES }) };
    const byAttacker: TrustedKey = {
      ...key().record,
      ...endorseKey(createPublicKey(key().record.publicKey), attacker.priv, { fleet: FLEET, expiresAt: EXPIRES }),
    };
    expect(ids(enrollmentPins([operator.record, endorsed, attacker.record, byAttacker], CTX, fp))).toEqual([operator.record.keyId, next.record.keyId]);
  });
});

describe('releaseKeyPinning', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ef-pin-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  it('is first-use until a token pin is on record', () => {
    expect(releaseKeyPinning(dir)).toBe('first-use');
    saveTokenPin(dir, 'ab'.repeat(32));
    expect(releaseKeyPinning(dir)).toBe('token');
  });
});
