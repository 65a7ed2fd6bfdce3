import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { retryClassOf } from '@edgefleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { CA_ONE, CA_TWO, KEY } from '../../../protocol/test/node/certificate-fixtures.js';
import { loadIdentity, saveIdentity } from '../../src/identity/store.js';

/** SHA-256 of CA_ONE's DER (see the protocol's fingerprint test). */
const CA_ONE_FINGERPRINT = 'a65c3b4b0c351f0135b5b351ef4c325a793ac6d1419d8fe8a854ce12730a0325';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-identity-'));
  dirs.push(dir);
  return dir;
}

/** An enrolled node's files; the node certificate is any certificate (loadIdentity reads its dates). */
function writeIdentity(dir: string, opts: { ca: string; caFingerprint?: string }): void {
  const file = { version: 1, nodeId: 'node-1', name: 'edge-1', caFingerprint: opts.caFingerprint, keyFile: 'node-1.key', certFile: 'node-1.crt' };
  writeFileSync(join(dir, 'identity.json'), JSON.stringify(file));
  writeFileSync(join(dir, 'ca.crt'), opts.ca);
  writeFileSync(join(dir, 'node-1.key'), KEY);
  writeFileSync(join(dir, 'node-1.crt'), CA_TWO);
}

function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('loadIdentity', () => {
  it('is undefined on a node that has not enrolled', () => {
    expect(loadIdentity(tempDir())).toBeUndefined();
  });

  it('refuses an unreadable identity with startup_failed: terminal, so the agent stops and says how to re-enroll', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'identity.json'), '{"version":1,"certFile":"missing.crt"');
    const thrown = thrownBy(() => loadIdentity(dir));
    expect(thrown).toMatchObject({ code: 'startup_failed', status: 500, hint: expect.stringContaining('move') });
    expect(retryClassOf(thrown)).toBe('terminal');
  });

  it.each([
    ['truncated JSON (a torn write)', '{"version":1,"nodeId":"no', /identity\.json is not valid JSON/],
    ['empty', '', /identity\.json is not valid JSON/],
    ['not an object', '[]', /identity\.json field \(the whole file\)/],
    ['no version', '{"nodeId":"n","name":"e","keyFile":"node-1.key","certFile":"node-1.crt"}', /identity\.json field version/],
    [
      'a key file outside the data dir',
      '{"version":1,"nodeId":"n","name":"e","keyFile":"../../etc/shadow","certFile":"node-1.crt"}',
      /identity\.json field keyFile: must be a file name like node-<serial>\.key/,
    ],
    [
      'a bad CA fingerprint',
      `{"version":1,"nodeId":"n","name":"e","caFingerprint":"abc","keyFile":"node-1.key","certFile":"node-1.crt"}`,
      /identity\.json field caFingerprint: must be 64 lowercase hex digits/,
    ],
  ])('refuses a corrupt identity.json (%s) with a clear startup_failed, never a crash', (_what, text, message) => {
    const dir = tempDir();
    writeIdentity(dir, { ca: CA_ONE, caFingerprint: CA_ONE_FINGERPRINT });
    writeFileSync(join(dir, 'identity.json'), text);
    const thrown = thrownBy(() => loadIdentity(dir));
    expect(thrown).toMatchObject({ code: 'startup_failed', message: expect.stringMatching(message), hint: expect.stringContaining('bootstrap token') });
    expect((thrown as Error).message).toContain(dir);
  });

  it.each([
    ['node-1.key', 'not a key', /node-1\.key is not a private key/],
    ['node-1.crt', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /node-1\.crt is not a certificate/],
  ])('refuses a corrupt %s with a startup_failed naming the file', (name, text, message) => {
    const dir = tempDir();
    writeIdentity(dir, { ca: CA_ONE, caFingerprint: CA_ONE_FINGERPRINT });
    writeFileSync(join(dir, name), text);
    expect(thrownBy(() => loadIdentity(dir))).toMatchObject({ code: 'startup_failed', message: expect.stringMatching(message) });
  });

  it('loads ca.crt that is the pinned CA, re-encoded from its DER', () => {
    const dir = tempDir();
    writeIdentity(dir, { ca: CA_ONE.replace(/\n/g, '\r\n'), caFingerprint: CA_ONE_FINGERPRINT });
    expect(loadIdentity(dir)).toMatchObject({ nodeId: 'node-1', caFingerprint: CA_ONE_FINGERPRINT, caPem: CA_ONE });
  });

  it.each([
    ['a second certificate appended', `${CA_ONE}${CA_TWO}`, /2 PEM blocks/],
    ['a second certificate put in front', `${CA_TWO}${CA_ONE}`, /2 PEM blocks/],
    ['another CA in its place', CA_TWO, /pinned sha256:a65c3b4b/],
    ['a key appended', `${CA_ONE}${KEY}`, /PRIVATE KEY/],
    ['nothing in it', '', /empty/],
  ])('refuses ca.crt with %s: server_untrusted, terminal, with a re-enroll hint', (_case, ca, why) => {
    const dir = tempDir();
    writeIdentity(dir, { ca, caFingerprint: CA_ONE_FINGERPRINT });
    const thrown = thrownBy(() => loadIdentity(dir));
    expect(thrown).toMatchObject({ code: 'server_untrusted', message: expect.stringMatching(why), hint: expect.stringContaining('new bootstrap token') });
    expect(retryClassOf(thrown)).toBe('terminal');
  });

  it('pins the fingerprint of ca.crt once for an identity written by an older agent without one', () => {
    const dir = tempDir();
    writeIdentity(dir, { ca: CA_ONE });
    expect(loadIdentity(dir)?.caFingerprint).toBe(CA_ONE_FINGERPRINT);
    expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8'))).toMatchObject({ caFingerprint: CA_ONE_FINGERPRINT, nodeId: 'node-1' });
    // From then on ca.crt is held to it.
    writeFileSync(join(dir, 'ca.crt'), CA_TWO);
    expect(thrownBy(() => loadIdentity(dir))).toMatchObject({ code: 'server_untrusted' });
  });

  it('refuses an older identity whose ca.crt holds two certificates: it cannot tell which is the fleet CA', () => {
    const dir = tempDir();
    writeIdentity(dir, { ca: `${CA_ONE}${CA_TWO}` });
    expect(thrownBy(() => loadIdentity(dir))).toMatchObject({ code: 'server_untrusted', message: expect.stringContaining('older agent') });
    expect(JSON.parse(readFileSync(join(dir, 'identity.json'), 'utf8')).caFingerprint).toBeUndefined();
  });

  it('refuses a malformed pinned fingerprint as an unreadable identity', () => {
    const dir = tempDir();
    writeIdentity(dir, { ca: CA_ONE, caFingerprint: 'sha256:abc' });
    expect(thrownBy(() => loadIdentity(dir))).toMatchObject({ code: 'startup_failed', message: expect.stringContaining('caFingerprint') });
  });
});

describe('saveIdentity', () => {
  const base = { nodeId: 'node-1', name: 'edge-1', caFingerprint: CA_ONE_FINGERPRINT, keyPem: KEY, certPem: CA_TWO };

  it('writes ca.crt as the one pinned certificate re-encoded, never the text given', () => {
    const dir = tempDir();
    saveIdentity(dir, { ...base, caPem: `\r\n${CA_ONE.replace(/\n/g, '\r\n')}  ` });
    expect(readFileSync(join(dir, 'ca.crt'), 'utf8')).toBe(CA_ONE);
    expect(loadIdentity(dir)?.caPem).toBe(CA_ONE);
  });

  it('writes every file of the identity 0600, through the durable write (no temp file left)', () => {
    const dir = tempDir();
    saveIdentity(dir, { ...base, caPem: CA_ONE });
    const files = readdirSync(dir);
    expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
    for (const f of files) expect((statSync(join(dir, f)).mode & 0o777).toString(8), f).toBe('600');
  });

  it('replaces a corrupt identity.json at enrollment instead of failing on it', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'identity.json'), '{"version":1,');
    saveIdentity(dir, { ...base, caPem: CA_ONE });
    expect(loadIdentity(dir)?.nodeId).toBe('node-1');
  });

  it.each([
    ['two certificates', `${CA_ONE}${CA_TWO}`],
    ['a CA that is not the pinned one', CA_TWO],
  ])('refuses to save %s as the fleet CA', (_case, caPem) => {
    const dir = tempDir();
    expect(thrownBy(() => saveIdentity(dir, { ...base, caPem }))).toMatchObject({ code: 'server_untrusted' });
  });
});
