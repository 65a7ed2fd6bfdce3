import { describe, expect, it } from 'vitest';
import { parseRegistryServer, RegistryServerError } from '../src/image-ref.js';
import { pemCertificateProblem, RegistryCreateSchema } from '../src/wire.js';

// Shape only: whether the bytes are a certificate is the server's check (node:crypto).
const PEM = '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\nAbCd+/==\n-----END CERTIFICATE-----\n';

function issues(body: unknown): string[] {
  const parsed = RegistryCreateSchema.safeParse(body);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('parseRegistryServer', () => {
  it.each([
    ['https://registry.example', 'https://registry.example', 'registry.example'],
    ['https://registry.example:5000', 'https://registry.example:5000', 'registry.example:5000'],
    ['https://registry.example:5000/', 'https://registry.example:5000', 'registry.example:5000'],
    ['https://Registry.Example:5000', 'https://registry.example:5000', 'registry.example:5000'],
    ['https://127.0.0.1:5000', 'https://127.0.0.1:5000', '127.0.0.1:5000'],
    ['https://[::1]:5000', 'https://[::1]:5000', '[::1]:5000'],
    // The default port is the same registry as no port: one spelling.
    ['https://registry.example:443', 'https://registry.example', 'registry.example'],
  ])('takes %s as %s (host %s)', (text, server, host) => {
    expect(parseRegistryServer(text)).toEqual({ server, host });
  });

  it.each([
    ['http://registry.example:5000', /not https/, /https:\/\/registry.example:5000/],
    ['registry.example:5000', /not https|not a URL/, /https/],
    ['https://user:secret@registry.example', /carries credentials/, /--password-file/],
    ['https://registry.example/v2/', /has a path/, /only the scheme, host and port/],
    ['https://registry.example/team', /has a path/, /repository path/],
    ['https://registry.example?x=1', /query or fragment/, /host and port/],
    ['https://registry.example#x', /query or fragment/, /host and port/],
    ['https://registry.example/?', /query or fragment/, /host and port/],
    ['not a url', /not a URL/, /https:\/\/registry.example:5000/],
  ])('refuses %s, saying why and how to write it', (text, message, hint) => {
    let err: unknown;
    try {
      parseRegistryServer(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RegistryServerError);
    expect((err as RegistryServerError).message).toMatch(message);
    expect((err as RegistryServerError).hint).toMatch(hint);
    // The credentials of a URL never end up in the message.
    expect((err as Error).message).not.toContain('secret');
  });
});

describe('pemCertificateProblem', () => {
  it('takes one or more certificates', () => {
    expect(pemCertificateProblem(PEM)).toBeUndefined();
    expect(pemCertificateProblem(`${PEM}\n${PEM}`)).toBeUndefined();
  });
  it('refuses a private key, an empty file and extra text', () => {
    expect(pemCertificateProblem('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n')).toMatch(/private key/);
    expect(pemCertificateProblem(`${PEM}-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n`)).toMatch(/private key/);
    expect(pemCertificateProblem('')).toMatch(/no PEM certificate/);
    expect(pemCertificateProblem('hello')).toMatch(/no PEM certificate/);
    expect(pemCertificateProblem(`${PEM}trailing words`)).toMatch(/besides/);
    expect(pemCertificateProblem('-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n')).toMatch(/no PEM certificate/);
  });
});

describe('RegistryCreateSchema', () => {
  it('takes an anonymous registry, and one with credentials and a CA', () => {
    expect(issues({ name: 'local', server: 'https://localhost:5000' })).toEqual([]);
    expect(issues({ name: 'harbor-eu', server: 'https://harbor.example', username: 'robot-pull', password: 'p a s s', caPem: PEM })).toEqual([]);
  });
  it.each([
    [{ name: 'Harbor', server: 'https://h.example' }, /^name: must be lower-case/],
    [{ name: 'a/b', server: 'https://h.example' }, /^name: /],
    [{ name: `${'a'.repeat(64)}`, server: 'https://h.example' }, /^name: /],
    [{ name: 'h', server: 'http://h.example' }, /^server: .*not https/],
    [{ name: 'h', server: 'https://u:p@h.example' }, /^server: .*credentials/],
    [{ name: 'h', server: 'https://h.example', username: 'u' }, /^password: username and password go together/],
    [{ name: 'h', server: 'https://h.example', password: 'p' }, /^username: username and password go together/],
    [{ name: 'h', server: 'https://h.example', username: 'a:b', password: 'p' }, /^username: must not contain ":"/],
    [{ name: 'h', server: 'https://h.example', caPem: 'nope' }, /^caPem: the CA file holds no PEM certificate/],
    [{ name: 'h', server: 'https://h.example', caPem: '-----BEGIN RSA PRIVATE KEY-----\nAA\n-----END RSA PRIVATE KEY-----' }, /^caPem: .*private key/],
    [{ name: 'h', server: 'https://h.example', token: 'x' }, /Unrecognized key/],
  ])('refuses %j', (body, expected) => {
    const found = issues(body);
    expect(found.length, JSON.stringify(found)).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(expected);
  });
});
