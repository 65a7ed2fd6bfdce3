import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, releaseKeyFingerprint } from '@edgefleet/protocol/node';
import { afterAll, describe, expect, it } from 'vitest';
import { enrollmentPins, releaseKeyPinning, saveTokenPin } from '../../src/session/release-key-pin.js';

function key(): { priv: KeyObject; record: TrustedKey } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  return { priv: privateKey, record: { keyId: publicKeyId(publicKey), publicKey: pem, signedBy: null, signature: null } };
}

describe('enrollmentPins', () => {
  const operator = key();
  const attacker = key();
  const fp = releaseKeyFingerprint(operator.record.publicKey);

  it('pins every offered key when the token names none (trust on first use)', () => {
    expect(enrollmentPins([operator.record, attacker.record], undefined)).toEqual({ pin: [operator.record, attacker.record], ignored: [] });
  });

  it("pins only the token's key, and refuses an answer that does not offer it", () => {
    expect(enrollmentPins([attacker.record, operator.record], fp)).toEqual({ pin: [operator.record], ignored: [attacker.record.keyId] });
    expect(() => enrollmentPins([attacker.record], fp)).toThrow(expect.objectContaining({ code: 'server_untrusted' }));
    expect(() => enrollmentPins([], fp)).toThrow(/offers none/);
  });

  it('refuses the key under a borrowed id, and pins keys it endorses (as roots it never takes the offered endorsement of)', () => {
    expect(() => enrollmentPins([{ ...operator.record, keyId: attacker.record.keyId }], fp)).toThrow(/does not offer/);
    const next = key();
    const endorsed: TrustedKey = { ...next.record, ...endorseKey(createPublicKey(next.record.publicKey), operator.priv) };
    const pins = enrollmentPins([{ ...operator.record, signedBy: attacker.record.keyId, signature: 'x' }, endorsed, attacker.record], fp);
    expect(pins.pin.map((k) => k.keyId)).toEqual([operator.record.keyId, next.record.keyId]);
    expect(pins.pin[0]).toMatchObject({ signedBy: null, signature: null });
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
