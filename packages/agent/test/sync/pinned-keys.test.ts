import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId, revokeKey } from '@edgefleet/protocol/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PinnedKeys } from '../../src/sync/pinned-keys.js';

interface Key {
  id: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  pem: string;
}

function key(): Key {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { id: publicKeyId(publicKey), privateKey, publicKey, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

const FLEET = 'f'.repeat(64);
const EXPIRES = '2027-12-03T14:00:00.000Z';

function rootRecord(k: Key): TrustedKey {
  return { keyId: k.id, publicKey: k.pem, signedBy: null, signature: null, expiresAt: null, revocation: null };
}

function endorsed(k: Key, by: Key): TrustedKey {
  const e = endorseKey(k.publicKey, by.privateKey, { fleet: FLEET, expiresAt: EXPIRES });
  return { keyId: k.id, publicKey: k.pem, signedBy: e.signedBy, signature: e.signature, expiresAt: EXPIRES, revocation: null };
}

const root = key();
const second = key();
const stranger = key();

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pinned-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pinFile = (): string => join(dir, 'release-keys.json');

describe('PinnedKeys (what to pin is decided in verify-release.ts; this keeps it)', () => {
  it('starts empty when nothing was pinned', () => {
    const pins = new PinnedKeys(dir);
    expect(pins.size).toBe(0);
    expect(pins.map().size).toBe(0);
  });

  it('pins keys with their records', () => {
    const pins = new PinnedKeys(dir);
    pins.pin([rootRecord(root), endorsed(second, root)]);
    expect([...pins.map().keys()]).toEqual([root.id, second.id]);
    expect(publicKeyId(pins.map().get(root.id)?.key as KeyObject)).toBe(root.id);
    expect(pins.map().get(second.id)?.record.expiresAt).toBe(EXPIRES);
  });

  it('does not replace a pinned key by a record of the same id (its first expiry stays)', () => {
    const pins = new PinnedKeys(dir);
    pins.pin([endorsed(second, root)]);
    pins.pin([
      { ...endorsed(stranger, root), keyId: second.id },
      { ...endorsed(second, root), expiresAt: '2099-01-01T00:00:00.000Z' },
    ]);
    expect(publicKeyId(pins.map().get(second.id)?.key as KeyObject)).toBe(second.id);
    expect(pins.map().get(second.id)?.record.expiresAt).toBe(EXPIRES);
  });

  it('keeps a revocation for good, across a restart, and a later record does not take it back', () => {
    const pins = new PinnedKeys(dir);
    pins.pin([rootRecord(root), endorsed(second, root)]);
    const revocation = revokeKey(second.id, root.privateKey, { fleet: FLEET });
    pins.revoke([{ keyId: second.id, revocation }]);
    const again = new PinnedKeys(dir);
    expect(again.map().get(second.id)?.record.revocation).toEqual(revocation);
    again.pin([endorsed(second, root)]);
    again.revoke([{ keyId: second.id, revocation: { ...revocation, revokedAt: '2099-01-01T00:00:00.000Z' } }]);
    expect(new PinnedKeys(dir).map().get(second.id)?.record.revocation).toEqual(revocation);
  });

  it('keeps the pinned set across a restart', () => {
    new PinnedKeys(dir).pin([rootRecord(root), endorsed(second, root)]);
    expect(new Set(new PinnedKeys(dir).map().keys())).toEqual(new Set([root.id, second.id]));
  });

  it('reads a pin file of the old format (no expiry, no revocation fields)', () => {
    writeFileSync(pinFile(), JSON.stringify([{ keyId: root.id, publicKey: root.pem, signedBy: null, signature: null }]));
    expect(new PinnedKeys(dir).map().get(root.id)?.record).toMatchObject({ expiresAt: null, revocation: null });
  });

  it('creates the data folder when it is missing', () => {
    const nested = join(dir, 'a', 'b');
    new PinnedKeys(nested).pin([rootRecord(root)]);
    expect(new PinnedKeys(nested).size).toBe(1);
  });

  const corrupt: Array<[string, string, string]> = [
    ['empty (torn write)', '', 'Unexpected end of JSON input'],
    ['truncated JSON', JSON.stringify([rootRecord(root)]).slice(0, 40), '.+'],
    ['not a list', '{}', 'Invalid input: expected array, received object'],
    ['null', 'null', 'Invalid input: expected array, received null'],
    ['a record without a key', JSON.stringify([{ keyId: root.id }]), 'entry 0.publicKey: Invalid input: expected string, received undefined'],
    ['a record with a bad key', JSON.stringify([{ ...rootRecord(root), publicKey: 'garbage' }]), 'the public key is not a PEM public key'],
  ];
  it.each(corrupt)('refuses to start from a pin file that is %s, rather than trusting afresh', (_what, text, reason) => {
    writeFileSync(pinFile(), text);
    expect(() => new PinnedKeys(dir)).toThrow(
      new RegExp(`^the pinned release keys in ${pinFile().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} cannot be read \\(${reason}\\): restore`),
    );
    // the file is left as it was, for the operator to look at
    expect(readFileSync(pinFile(), 'utf8')).toBe(text);
  });
});
