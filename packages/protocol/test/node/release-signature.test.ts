import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/canonical.js';
import { EdgefleetError } from '../../src/errors.js';
import { type Release, ReleaseSchema } from '../../src/manifest.js';
import { parseManifestFile } from '../../src/node/manifest-file.js';
import {
  endorseKey,
  endorsementValid,
  keyEndorsementMessage,
  parsePrivateKey,
  parsePublicKey,
  publicKeyId,
  rawPublicKey,
  releaseDigest,
  releaseSignatureProblem,
  revocationValid,
  revokeKey,
  signRelease,
} from '../../src/node/release-signature.js';

const MODEL = `sha256:${'a'.repeat(64)}`;
const FALLBACK = `sha256:${'b'.repeat(64)}`;

function keyPair(): { privateKey: KeyObject; publicKey: KeyObject; id: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKey, publicKey, id: publicKeyId(publicKey) };
}

const root = keyPair();
const other = keyPair();

function release(extra: Partial<Release> = {}): Release {
  return ReleaseSchema.parse({
    version: '1.2.0',
    model: { artifact: MODEL, format: 'onnx' },
    fallback: { artifact: FALLBACK, format: 'tflite' },
    runtime: { kind: 'process', command: 'serve', args: ['--port', '9000'], env: { MODE: 'fast' } },
    env: { LOG_LEVEL: 'info' },
    annotations: { 'sim.latency': '20ms' },
    ...extra,
  });
}

/** The fleet and deployment the tests sign for, at a fixed time. */
const FLEET = 'f'.repeat(64);
const WHERE = { fleet: FLEET, deployment: 'detector', signedAt: '2026-12-03T14:00:00.000Z' };
const TARGET = { fleet: FLEET, deployment: 'detector' };
const TERMS = { fleet: FLEET, expiresAt: '2027-12-03T14:00:00.000Z' };

function signed(r: Release = release(), by: KeyObject = root.privateKey): Release {
  return { ...r, signature: signRelease(r, by, WHERE) };
}

const trusted = new Map([[root.id, root.publicKey]]);

function deployment(releaseYaml: string): string {
  return `apiVersion: edgefleet.dev/v1
kind: Deployment
metadata:
  name: detector
spec:
  selector: ai.accelerator=hailo8l
  release:
${releaseYaml
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
`;
}

describe('releaseDigest', () => {
  it('is the SHA-256 of the canonical JSON of the release without its signature', () => {
    const r = release();
    expect(releaseDigest(r)).toBe(createHash('sha256').update(canonicalJson(r), 'utf8').digest('hex'));
    expect(releaseDigest(signed(r))).toBe(releaseDigest(r));
    expect(releaseDigest(r)).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is the same when YAML leaves the defaults out and when it writes them out', () => {
    const short = parseManifestFile(
      deployment(`version: "1.0"
model: { artifact: "${MODEL}", format: onnx }`),
      'short.yaml',
    )[0]?.manifest.spec.release;
    const long = parseManifestFile(
      deployment(`health:
  window: 30s
  failureThreshold: 3
  interval: 5s
  path: /v2/health/ready
runtime:
  accelerator: none
  kind: model-server
model:
  format: onnx
  artifact: "${MODEL}"
version: "1.0"`),
      'long.yaml',
    )[0]?.manifest.spec.release;
    expect(short).toBeDefined();
    expect(long).toBeDefined();
    expect(releaseDigest(short as Release)).toBe(releaseDigest(long as Release));
    // and a signature made over one verifies for the other
    const sig = signRelease(short as Release, root.privateKey, WHERE);
    expect(releaseSignatureProblem({ ...(long as Release), signature: sig }, trusted, TARGET)).toBeUndefined();
  });

  it('is the same whatever the key order and whether the source was JSON or YAML', () => {
    const a = release();
    const b = ReleaseSchema.parse(JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(a).reverse()))));
    expect(releaseDigest(b)).toBe(releaseDigest(a));
  });

  it('changes when a default is written with another value', () => {
    const base = release();
    expect(releaseDigest(release({ health: { ...base.health, failureThreshold: 4 } }))).not.toBe(releaseDigest(base));
  });
});

describe('signRelease + releaseSignatureProblem', () => {
  it('round-trips: a release signed by a trusted key verifies', () => {
    const s = signed();
    expect(s.signature).toEqual({ algorithm: 'ed25519', keyId: root.id, value: expect.stringMatching(/^[A-Za-z0-9+/]+={0,2}$/), ...WHERE });
    expect(releaseSignatureProblem(s, trusted, TARGET)).toBeUndefined();
  });

  it('survives the JSON round trip the desired state makes to the agent', () => {
    const s = signed();
    expect(releaseSignatureProblem(ReleaseSchema.parse(JSON.parse(JSON.stringify(s))), trusted, TARGET)).toBeUndefined();
  });

  const tampers: Array<[string, (r: Release) => Release]> = [
    ['version', (r) => ({ ...r, version: '1.2.1' })],
    ['model digest', (r) => ({ ...r, model: { format: 'onnx', artifact: `sha256:${'c'.repeat(64)}` } })],
    ['model format', (r) => ({ ...r, model: { artifact: r.model?.artifact ?? '', format: 'hef' } })],
    ['fallback removed', (r) => ({ ...r, fallback: undefined })],
    ['fallback digest', (r) => ({ ...r, fallback: { artifact: MODEL, format: 'tflite' } })],
    ['runtime kind', (r) => ({ ...r, runtime: { kind: 'model-server', accelerator: 'none' } })],
    ['runtime command', (r) => ({ ...r, runtime: { ...r.runtime, command: 'sh' } })],
    ['runtime args', (r) => ({ ...r, runtime: { ...r.runtime, args: ['--port', '9001'] } })],
    ['runtime env', (r) => ({ ...r, runtime: { ...r.runtime, env: { MODE: 'fast', LD_PRELOAD: '/tmp/x.so' } } })],
    ['runtime accelerator', (r) => ({ ...r, runtime: { ...r.runtime, accelerator: 'required' } })],
    ['runtime port', (r) => ({ ...r, runtime: { ...r.runtime, port: 8080 } })],
    ['runtime workingDir', (r) => ({ ...r, runtime: { ...r.runtime, workingDir: '/' } })],
    ['health path', (r) => ({ ...r, health: { ...r.health, path: '/' } })],
    ['health window', (r) => ({ ...r, health: { ...r.health, window: '1s' } })],
    ['env value', (r) => ({ ...r, env: { LOG_LEVEL: 'debug' } })],
    ['env added', (r) => ({ ...r, env: { ...r.env, EXTRA: '1' } })],
    ['env removed', (r) => ({ ...r, env: undefined })],
    ['annotation value', (r) => ({ ...r, annotations: { 'sim.latency': '1ms' } })],
    ['annotation added', (r) => ({ ...r, annotations: { ...r.annotations, 'sim.fail': 'true' } })],
    ['annotations removed', (r) => ({ ...r, annotations: undefined })],
    ['env key renamed', (r) => ({ ...r, env: { LOG_LEVEl: 'info' } })],
  ];
  it.each(tampers)('fails when the %s is changed after signing', (_field, tamper) => {
    const s = signed();
    const changed = tamper(s);
    expect(releaseDigest(changed)).not.toBe(releaseDigest(s));
    expect(releaseSignatureProblem(changed, trusted, TARGET)).toBe(`the signature by key ${root.id} does not match the release (it was changed after signing)`);
  });

  it('says the release is not signed', () => {
    expect(releaseSignatureProblem(release(), trusted, TARGET)).toBe('the release is not signed');
  });

  it('fails for a key that is not trusted, even one that signed correctly', () => {
    const s = signed(release(), other.privateKey);
    expect(releaseSignatureProblem(s, trusted, TARGET)).toBe(`the release is signed by key ${other.id}, which is not trusted`);
    expect(releaseSignatureProblem(s, new Map(), TARGET)).toMatch(/not trusted/);
  });

  it('fails when another key signed but the signature claims a trusted key id', () => {
    const r = release();
    const forged = { ...r, signature: { ...signRelease(r, other.privateKey, WHERE), keyId: root.id } };
    expect(releaseSignatureProblem(forged, trusted, TARGET)).toMatch(/does not match/);
  });

  it('fails when the trusted map holds another key under the signer id', () => {
    const s = signed();
    expect(releaseSignatureProblem(s, new Map([[root.id, other.publicKey]]), TARGET)).toMatch(/does not match/);
  });

  it('fails for a signature of another release', () => {
    const a = signed(release({ version: '1' }));
    const b = release({ version: '2' });
    expect(releaseSignatureProblem({ ...b, signature: a.signature }, trusted, TARGET)).toMatch(/does not match/);
  });

  it.each([
    ['empty', ''],
    ['not base64', '!!!not base64!!!'],
    ['too short', Buffer.alloc(63, 1).toString('base64')],
    ['too long', Buffer.alloc(65, 1).toString('base64')],
    ['all zero', Buffer.alloc(64).toString('base64')],
    ['huge', 'A'.repeat(100_000)],
  ])('answers a malformed signature value (%s) with a problem, not a crash', (_what, value) => {
    const s = signed();
    const bad = { ...s, signature: { algorithm: 'ed25519' as const, keyId: root.id, value, ...WHERE } };
    expect(releaseSignatureProblem(bad, trusted, TARGET)).toMatch(/does not match/);
  });

  it('does not accept a signature over the bare digest (the message carries the release prefix)', () => {
    const r = release();
    const bare = sign(null, Buffer.from(releaseDigest(r), 'ascii'), root.privateKey).toString('base64');
    expect(releaseSignatureProblem({ ...r, signature: { algorithm: 'ed25519', keyId: root.id, value: bare, ...WHERE } }, trusted, TARGET)).toMatch(
      /does not match/,
    );
  });

  it('does not accept a key endorsement as a release signature, nor the other way round', () => {
    // Domain separation: the two messages have different prefixes.
    const endorsement = endorseKey(other.publicKey, root.privateKey, TERMS);
    const r = release();
    expect(
      releaseSignatureProblem({ ...r, signature: { algorithm: 'ed25519', keyId: root.id, value: endorsement.signature, ...WHERE } }, trusted, TARGET),
    ).toMatch(/does not match/);
    const s = signed(r);
    expect(endorsementValid(other.publicKey, root.publicKey, s.signature?.value ?? '', TERMS)).toBe(false);
  });
});

describe('the binding: fleet, deployment, signing time (issue 14, finding 7)', () => {
  it('refuses a signature moved to another fleet', () => {
    expect(releaseSignatureProblem(signed(), trusted, { fleet: 'e'.repeat(64), deployment: 'detector' })).toBe(
      `the release is signed for another fleet (CA sha256:${FLEET}), not this one (sha256:${'e'.repeat(64)})`,
    );
  });

  it('refuses a signature moved to another deployment', () => {
    expect(releaseSignatureProblem(signed(), trusted, { fleet: FLEET, deployment: 'other' })).toBe(
      'the release is signed for deployment "detector", not "other"',
    );
  });

  it.each([
    ['fleet', { fleet: 'e'.repeat(64) }],
    ['deployment', { deployment: 'other' }],
    ['signing time', { signedAt: '2027-01-01T00:00:00.000Z' }],
  ])('refuses a signature whose %s was edited after signing (it is part of the signed message)', (_what, edit) => {
    const s = signed();
    const edited = { ...s, signature: { ...(s.signature as NonNullable<Release['signature']>), ...edit } };
    const target = { fleet: edited.signature.fleet as string, deployment: edited.signature.deployment as string };
    expect(releaseSignatureProblem(edited, trusted, target)).toMatch(/does not match/);
  });

  it('refuses a signature of the old format (no binding) with a hint to sign again', () => {
    const r = release();
    const old = sign(null, Buffer.from(`edgefleet.dev/release/v1\n${releaseDigest(r)}`, 'ascii'), root.privateKey).toString('base64');
    expect(releaseSignatureProblem({ ...r, signature: { algorithm: 'ed25519', keyId: root.id, value: old } }, trusted, TARGET)).toMatch(
      /old format.*edgefleet release sign/,
    );
  });

  it('refuses to sign for a fleet, deployment or time that is not well formed', () => {
    expect(() => signRelease(release(), root.privateKey, { ...WHERE, fleet: 'lab' })).toThrow(/not a CA fingerprint/);
    expect(() => signRelease(release(), root.privateKey, { ...WHERE, deployment: 'a\nfleet x' })).toThrow(/not a DNS label/);
    expect(() => signRelease(release(), root.privateKey, { ...WHERE, signedAt: '2026-12-03' })).toThrow(/ISO 8601/);
  });

  it('signs at the current time when none is given', () => {
    const before = new Date().toISOString();
    const at = signRelease(release(), root.privateKey, TARGET).signedAt as string;
    expect(at >= before && at <= new Date().toISOString()).toBe(true);
  });
});

describe('key endorsement terms and revocation', () => {
  it('fails for another fleet or another expiry than signed', () => {
    const e = endorseKey(other.publicKey, root.privateKey, TERMS);
    expect(endorsementValid(other.publicKey, root.publicKey, e.signature, { ...TERMS, fleet: 'e'.repeat(64) })).toBe(false);
    expect(endorsementValid(other.publicKey, root.publicKey, e.signature, { ...TERMS, expiresAt: '2099-01-01T00:00:00.000Z' })).toBe(false);
  });

  it('lets a root sign its own expiry', () => {
    const e = endorseKey(root.publicKey, root.privateKey, TERMS);
    expect(e.signedBy).toBe(root.id);
    expect(endorsementValid(root.publicKey, root.publicKey, e.signature, TERMS)).toBe(true);
  });

  it('verifies a revocation by another key, for this fleet and key only', () => {
    const r = revokeKey(other.id, root.privateKey, { fleet: FLEET, revokedAt: '2026-12-03T15:00:00.000Z' });
    expect(r).toMatchObject({ signedBy: root.id, revokedAt: '2026-12-03T15:00:00.000Z' });
    expect(revocationValid(other.id, r, root.publicKey, FLEET)).toBe(true);
    expect(revocationValid(other.id, r, root.publicKey, 'e'.repeat(64))).toBe(false);
    expect(revocationValid(root.id, r, root.publicKey, FLEET)).toBe(false);
    expect(revocationValid(other.id, { ...r, revokedAt: '2026-12-03T16:00:00.000Z' }, root.publicKey, FLEET)).toBe(false);
    expect(revocationValid(other.id, r, other.publicKey, FLEET)).toBe(false);
  });

  it('never counts a key revoking itself', () => {
    const r = revokeKey(other.id, other.privateKey, { fleet: FLEET });
    expect(revocationValid(other.id, r, other.publicKey, FLEET)).toBe(false);
  });

  it('keeps the three kinds of statement apart (domain separation)', () => {
    const rev = revokeKey(other.id, root.privateKey, { fleet: FLEET });
    const r = release();
    expect(releaseSignatureProblem({ ...r, signature: { algorithm: 'ed25519', keyId: root.id, value: rev.signature, ...WHERE } }, trusted, TARGET)).toMatch(
      /does not match/,
    );
    expect(endorsementValid(other.publicKey, root.publicKey, rev.signature, TERMS)).toBe(false);
  });
});

describe('keys', () => {
  it('derives the key id from the raw 32-byte public key', () => {
    const jwk = root.publicKey.export({ format: 'jwk' });
    const raw = Buffer.from(jwk.x ?? '', 'base64url');
    expect(raw).toHaveLength(32);
    expect(rawPublicKey(root.publicKey).equals(raw)).toBe(true);
    expect(root.id).toBe(createHash('sha256').update(raw).digest('hex').slice(0, 16));
    expect(root.id).toMatch(/^[0-9a-f]{16}$/);
    expect(publicKeyId(createPublicKey(root.privateKey))).toBe(root.id);
    expect(other.id).not.toBe(root.id);
  });

  it('parses PEM keys, and the key id survives the PEM round trip', () => {
    const pub = parsePublicKey(root.publicKey.export({ format: 'pem', type: 'spki' }).toString());
    expect(publicKeyId(pub)).toBe(root.id);
    const priv = parsePrivateKey(root.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    expect(signRelease(release(), priv, WHERE).keyId).toBe(root.id);
  });

  it.each([
    ['garbage', 'not a key'],
    ['empty', ''],
    ['a truncated PEM', root.publicKey.export({ format: 'pem', type: 'spki' }).toString().slice(0, 60)],
  ])('refuses %s as a public key with a clear 400', (_what, pem) => {
    const err = (() => {
      try {
        parsePublicKey(pem, 'release key');
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(EdgefleetError);
    expect(err).toMatchObject({ status: 400, code: 'bad_request', message: 'the release key is not a PEM public key' });
    expect(() => parsePrivateKey(pem)).toThrow('the signing key is not a PEM private key');
  });

  it('refuses a private key given as a public key, so it is never sent on (it used to be accepted)', () => {
    const pem = root.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => parsePublicKey(pem, 'release key')).toThrow('the release key is a private key');
    const encrypted = root.privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }).toString();
    expect(() => parsePublicKey(encrypted)).toThrow('the public key is a private key');
    const der = root.privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64');
    expect(() => parsePublicKey(der)).toThrow(EdgefleetError);
  });

  it('refuses keys that are not Ed25519, naming the type', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expect(() => parsePublicKey(ec.publicKey.export({ format: 'pem', type: 'spki' }).toString())).toThrow('the public key is ec, not Ed25519');
    expect(() => parsePrivateKey(ec.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString())).toThrow('the signing key is ec, not Ed25519');
    const x = generateKeyPairSync('x25519');
    expect(() => parsePublicKey(x.publicKey.export({ format: 'pem', type: 'spki' }).toString())).toThrow(/x25519, not Ed25519/);
  });
});

describe('key endorsement', () => {
  it('is valid for the endorsed key and the endorsing key', () => {
    const e = endorseKey(other.publicKey, root.privateKey, TERMS);
    expect(e.signedBy).toBe(root.id);
    expect(endorsementValid(other.publicKey, root.publicKey, e.signature, TERMS)).toBe(true);
  });

  it('signs the new key id and its raw bytes under the key prefix', () => {
    expect(keyEndorsementMessage(other.publicKey, TERMS).toString('ascii')).toBe(
      `edgefleet.dev/key/v2\nfleet ${FLEET}\nkey ${other.id}\nraw ${rawPublicKey(other.publicKey).toString('hex')}\nexpires-at ${TERMS.expiresAt}`,
    );
  });

  it('fails for another signer than the one that endorsed', () => {
    const third = keyPair();
    const e = endorseKey(other.publicKey, third.privateKey, TERMS);
    expect(endorsementValid(other.publicKey, root.publicKey, e.signature, TERMS)).toBe(false);
  });

  it('fails when moved to another key', () => {
    const third = keyPair();
    const e = endorseKey(other.publicKey, root.privateKey, TERMS);
    expect(endorsementValid(third.publicKey, root.publicKey, e.signature, TERMS)).toBe(false);
  });

  it('fails over another key id or other raw bytes', () => {
    const third = keyPair();
    const overId = sign(
      null,
      Buffer.from(
        `edgefleet.dev/key/v2\nfleet ${FLEET}\nkey ${third.id}\nraw ${rawPublicKey(other.publicKey).toString('hex')}\nexpires-at ${TERMS.expiresAt}`,
        'ascii',
      ),
      root.privateKey,
    ).toString('base64');
    const overRaw = sign(
      null,
      Buffer.from(
        `edgefleet.dev/key/v2\nfleet ${FLEET}\nkey ${other.id}\nraw ${rawPublicKey(third.publicKey).toString('hex')}\nexpires-at ${TERMS.expiresAt}`,
        'ascii',
      ),
      root.privateKey,
    ).toString('base64');
    expect(endorsementValid(other.publicKey, root.publicKey, overId, TERMS)).toBe(false);
    expect(endorsementValid(other.publicKey, root.publicKey, overRaw, TERMS)).toBe(false);
  });

  it.each(['', '!!!', Buffer.alloc(10).toString('base64'), 'A'.repeat(10_000)])('answers a malformed endorsement (%#) with false', (sig) => {
    expect(endorsementValid(other.publicKey, root.publicKey, sig, TERMS)).toBe(false);
  });

  it('chains: a key endorsed by an endorsed key verifies link by link', () => {
    const third = keyPair();
    const first = endorseKey(other.publicKey, root.privateKey, TERMS);
    const second = endorseKey(third.publicKey, other.privateKey, TERMS);
    expect(endorsementValid(other.publicKey, root.publicKey, first.signature, TERMS)).toBe(true);
    expect(second.signedBy).toBe(other.id);
    expect(endorsementValid(third.publicKey, other.publicKey, second.signature, TERMS)).toBe(true);
    // The link does not skip: the root did not endorse the third key itself.
    expect(endorsementValid(third.publicKey, root.publicKey, second.signature, TERMS)).toBe(false);
  });
});

describe('golden vectors (checked independently with sha256sum and openssl pkeyutl -rawin)', () => {
  /** An Ed25519 key from a fixed 32-byte seed: Ed25519 signatures are deterministic. */
  function seededKey(byte: number): KeyObject {
    const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, byte)]);
    return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  }
  const signer = seededKey(7);
  const endorsed = createPublicKey(seededKey(9));
  const r = ReleaseSchema.parse({ version: '1.0.0', model: { artifact: MODEL, format: 'onnx' }, annotations: { note: 'h\u00e9llo \u20ac' } });

  // A change here breaks every signed release in every fleet (a new default in ReleaseSchema
  // does too): it needs a new message prefix (edgefleet.dev/release/v3), not a new vector.
  it('keeps the canonical text and digest of a release', () => {
    expect(canonicalJson(r)).toBe(
      `{"annotations":{"note":"h\u00e9llo \u20ac"},"health":{"failureThreshold":3,"interval":"5s","path":"/v2/health/ready","window":"30s"},"model":{"artifact":"${MODEL}","format":"onnx"},"runtime":{"accelerator":"none","kind":"model-server"},"version":"1.0.0"}`,
    );
    expect(releaseDigest(r)).toBe('feeda1ecf7b6aba2d3637b70035532040d0db32f2bb54abc92b5d15ed1abb50b');
  });

  it('keeps the key ids and the signature bytes', () => {
    expect(publicKeyId(createPublicKey(signer))).toBe('fe812c12f3ab4ce6');
    expect(publicKeyId(endorsed)).toBe('dbc298251c51321b');
    // openssl pkeyutl -sign -rawin over the v2 texts of release-rules.ts, with the seed-7 key.
    expect(signRelease(r, signer, WHERE)).toEqual({
      algorithm: 'ed25519',
      keyId: 'fe812c12f3ab4ce6',
      value: '5Fmj0uPM3liP3gmZNsC1gtblNzqRBbvHUcfrIcWEBtmcVBrUBeBCxtxjs0YfPV7zP7Hzv90R0tKRrojWSih5Dg==',
      ...WHERE,
    });
    expect(endorseKey(endorsed, signer, TERMS)).toEqual({
      signedBy: 'fe812c12f3ab4ce6',
      signature: 'Te2Z/4mdxr0WTEBD0+XezXdTlTNjaRHdKcz4/mKuwdeK9v+RC9DeGCYjGpj4exp73RFd7aL9uNihURtURaYgBQ==',
      expiresAt: TERMS.expiresAt,
    });
    expect(revokeKey('dbc298251c51321b', signer, { fleet: FLEET, revokedAt: '2026-12-03T15:00:00.000Z' })).toEqual({
      signedBy: 'fe812c12f3ab4ce6',
      revokedAt: '2026-12-03T15:00:00.000Z',
      signature: 'aVjsMj1fVchkUW4xVfrYFUIwvUvUoVEZRemCj5eR9HtaMFZdNQZ+9wJrkl0C0ftkEkPwNuaWp6D5DKzhXqgYCw==',
    });
  });
});
