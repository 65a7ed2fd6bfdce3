import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TrustedKey } from '@edgefleet/protocol';
import { endorseKey, publicKeyId } from '@edgefleet/protocol/node';
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

function rootRecord(k: Key): TrustedKey {
  return { keyId: k.id, publicKey: k.pem, signedBy: null, signature: null };
}

function endorsed(k: Key, by: Key): TrustedKey {
  const e = endorseKey(k.publicKey, by.privateKey);
  return { keyId: k.id, publicKey: k.pem, signedBy: e.signedBy, signature: e.signature };
}

const root = key();
const second = key();
const third = key();
const stranger = key();

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pinned-keys-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const pinFile = (): string => join(dir, 'release-keys.json');

describe('PinnedKeys', () => {
  it('starts empty when nothing was pinned', () => {
    const pins = new PinnedKeys(dir);
    expect(pins.size).toBe(0);
    expect(pins.map().size).toBe(0);
  });

  it('pins the keys given at enrollment', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect([...pins.map().keys()]).toEqual([root.id]);
    expect(publicKeyId(pins.map().get(root.id) as KeyObject)).toBe(root.id);
  });

  it('trust on first use: a node enrolled before any key existed pins the first roots, then only endorsed keys', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([]); // enrolled while the fleet had no release key
    expect(pins.size).toBe(0);
    expect(readFileSync(pinFile(), 'utf8').trim()).toBe('[]');
    // what the agent does on its first desired state with keys (agent.ts acceptDesired)
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([rootRecord(root), endorsed(second, root)])).toEqual([]);
    expect(new Set(pins.map().keys())).toEqual(new Set([root.id, second.id]));
    // a new root offered later is not pinned
    expect(pins.acceptEndorsed([rootRecord(stranger)])).toEqual([stranger.id]);
    expect(pins.map().has(stranger.id)).toBe(false);
  });

  it('pins a key endorsed by a pinned key', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([endorsed(second, root)])).toEqual([]);
    expect(pins.map().has(second.id)).toBe(true);
  });

  it('refuses a key that arrives without an endorsement', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([rootRecord(second)])).toEqual([second.id]);
    expect(pins.acceptEndorsed([{ ...rootRecord(second), signedBy: root.id }])).toEqual([second.id]);
    expect(pins.acceptEndorsed([{ ...endorsed(second, root), signedBy: null }])).toEqual([second.id]);
    expect(pins.map().has(second.id)).toBe(false);
  });

  it('refuses a key endorsed by a key it does not pin', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([endorsed(second, stranger)])).toEqual([second.id]);
    expect(pins.map().has(second.id)).toBe(false);
  });

  it('refuses an endorsement that names a pinned signer but was made by another key', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([{ ...endorsed(second, stranger), signedBy: root.id }])).toEqual([second.id]);
  });

  it('refuses an endorsement moved onto another key', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    const forSecond = endorsed(second, root);
    expect(pins.acceptEndorsed([{ ...forSecond, keyId: stranger.id, publicKey: stranger.pem }])).toEqual([stranger.id]);
    expect(pins.map().has(stranger.id)).toBe(false);
  });

  it('refuses a record whose key id is not the id of its key', () => {
    // Pinned under a borrowed id, the key would shadow the real owner of that id later.
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([{ ...endorsed(second, root), keyId: third.id }])).toEqual([third.id]);
    expect(pins.size).toBe(1);
    // and the real owner of that id is still accepted afterwards
    expect(pins.acceptEndorsed([endorsed(third, root)])).toEqual([]);
    expect(publicKeyId(pins.map().get(third.id) as KeyObject)).toBe(third.id);
  });

  it('refuses a record with a malformed public key instead of throwing', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    const bad = { ...endorsed(second, root), publicKey: 'not a key' };
    expect(pins.acceptEndorsed([bad, endorsed(third, root)])).toEqual([second.id]);
    expect(pins.map().has(third.id)).toBe(true);
  });

  it('refuses a malformed endorsement signature', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    expect(pins.acceptEndorsed([{ ...endorsed(second, root), signature: '!!!' }])).toEqual([second.id]);
    expect(pins.acceptEndorsed([{ ...endorsed(second, root), signature: '' }])).toEqual([second.id]);
  });

  it('follows endorsement chains in any order', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    // third is endorsed by second, second by root; the list has the child first
    expect(pins.acceptEndorsed([endorsed(third, second), endorsed(second, root)])).toEqual([]);
    expect(new Set(pins.map().keys())).toEqual(new Set([root.id, second.id, third.id]));
  });

  it('does not let a chain start from a key it does not pin', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    // the stranger offers itself as a root, and endorses second, which endorses third
    const refused = pins.acceptEndorsed([rootRecord(stranger), endorsed(second, stranger), endorsed(third, second)]);
    expect(new Set(refused)).toEqual(new Set([stranger.id, second.id, third.id]));
    expect([...pins.map().keys()]).toEqual([root.id]);
  });

  it('does not replace a pinned key by a record of the same id', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    const swap = { ...endorsed(stranger, root), keyId: root.id };
    expect(pins.acceptEndorsed([swap])).toEqual([]);
    expect(publicKeyId(pins.map().get(root.id) as KeyObject)).toBe(root.id);
  });

  it('keeps the pinned set across a restart', () => {
    const pins = new PinnedKeys(dir);
    pins.pinInitial([rootRecord(root)]);
    pins.acceptEndorsed([endorsed(second, root), rootRecord(stranger)]);
    const again = new PinnedKeys(dir);
    expect(new Set(again.map().keys())).toEqual(new Set([root.id, second.id]));
    // and after the restart it still refuses what it refused before
    expect(again.acceptEndorsed([rootRecord(stranger)])).toEqual([stranger.id]);
    expect(again.acceptEndorsed([endorsed(third, second)])).toEqual([]);
    expect(new PinnedKeys(dir).size).toBe(3);
  });

  it('creates the data folder when it is missing', () => {
    const nested = join(dir, 'a', 'b');
    new PinnedKeys(nested).pinInitial([rootRecord(root)]);
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
