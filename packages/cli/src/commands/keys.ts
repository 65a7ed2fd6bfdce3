import { generateKeyPairSync } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DeploymentManifestSchema, errors, parseDuration } from '@edgefleet/protocol';
import {
  endorseKey,
  parsePrivateKey,
  parsePublicKey,
  publicKeyId,
  revokeKey,
  signedTime,
  signRelease,
  validateManifest,
  writeFileDurable,
} from '@edgefleet/protocol/node';
import type { Command } from 'commander';
import type * as Yaml from 'yaml';
import { type ConnectionFlags, clientFrom, readFlagFile } from '../connection.js';
import { outputFormat, printData, renderTable } from '../output.js';

/** yaml, loaded on first use: `edgefleet agent` runs for months without it (issue 6 footprint). */
const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

/** `edgefleet keys …` (release signing keys) and `edgefleet release sign`. */
export function keyCommands(program: Command): void {
  const keys = program.command('keys').description('Ed25519 keys that sign releases; the server only ever holds public keys');
  keys
    .command('generate')
    .description('write a new key pair: NAME.key (private, mode 0600) and NAME.pub')
    .requiredOption('--out <name>', 'path prefix of the two files')
    .action((opts: { out: string }) => {
      const keyFile = `${opts.out}.key`;
      const pubFile = `${opts.out}.pub`;
      for (const f of [keyFile, pubFile]) {
        if (existsSync(f)) throw errors.config(`${f} already exists`, 'choose another --out, or move the old key away (it may still sign live releases)');
      }
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      writeFileSync(pubFile, publicKey.export({ format: 'pem', type: 'spki' }), { mode: 0o644 });
      process.stdout.write(`key ${publicKeyId(publicKey)} written to ${keyFile} and ${pubFile}\n`);
    });
  keys
    .command('trust <pubfile>')
    .description('make the server trust a release public key until its expiry (the first key endorses itself; later ones need a trusted key)')
    .requiredOption(
      '--endorse-with <keyfile>',
      "the private key that signs the new key's expiry: the key's own NAME.key for the first key, else a live trusted key",
    )
    .option('--expires <duration>', 'how long the key may sign new releases (e.g. 90d, 8760h)', '365d')
    .action(async (pubfile: string, opts: { endorseWith: string; expires: string } & ConnectionFlags) => {
      const pem = readFlagFile(pubfile, 'NAME.pub');
      const key = parsePublicKey(pem);
      const signer = parsePrivateKey(readFlagFile(opts.endorseWith, '--endorse-with'));
      const client = clientFrom(opts);
      const expiresAt = signedTime(Date.now() + parseDuration(opts.expires, '--expires'));
      const endorsement = endorseKey(key, signer, { fleet: (await client.serverInfo()).caFingerprint, expiresAt });
      const trusted = await client.trustKey(pem, endorsement);
      process.stdout.write(
        `key ${trusted.keyId} trusted${trusted.signedBy === null ? '' : ` (endorsed by ${trusted.signedBy})`}, expires ${trusted.expiresAt ?? 'never (trusted before expiries)'}\n`,
      );
    });
  keys
    .command('revoke <keyid>')
    .description('revoke a release key: every node refuses the releases it signed (sign live deployments with another key first)')
    .requiredOption('--with <keyfile>', 'another live trusted private key, which signs the revocation')
    .action(async (keyId: string, opts: { with: string } & ConnectionFlags) => {
      if (!/^[0-9a-f]{16}$/.test(keyId)) throw errors.config(`"${keyId}" is not a key id`, 'give the 16 hex digits "edgefleet keys list" shows');
      const signer = parsePrivateKey(readFlagFile(opts.with, '--with'));
      const client = clientFrom(opts);
      const revocation = revokeKey(keyId, signer, { fleet: (await client.serverInfo()).caFingerprint });
      const { key, stillSigned } = await client.revokeKey(keyId, revocation);
      process.stdout.write(
        `key ${key.keyId} revoked at ${key.revocation?.revokedAt ?? revocation.revokedAt} (signed by ${key.revocation?.signedBy ?? revocation.signedBy})\n`,
      );
      if (stillSigned.length > 0) {
        process.stdout.write(
          `warning: nodes now refuse the current release of ${stillSigned.map((d) => `deployment/${d}`).join(', ')}: sign them with a live key (edgefleet release sign) and apply\n`,
        );
      }
    });
  keys
    .command('list')
    .description('list trusted release keys')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const items = await clientFrom(opts).listKeys();
      if (format !== 'table') return printData({ items }, format);
      process.stdout.write(
        `${renderTable(items, [
          { header: 'KEY ID', cell: (k) => k.keyId },
          { header: 'ENDORSED BY', cell: (k) => k.signedBy ?? '(first key)' },
          { header: 'EXPIRES', cell: (k) => k.expiresAt ?? 'never (old format)' },
          { header: 'REVOKED', cell: (k) => (k.revocation === null ? '-' : `${k.revocation.revokedAt} by ${k.revocation.signedBy}`) },
        ])}\n`,
      );
    });

  program
    .command('release')
    .description('signed releases')
    .command('sign')
    .description('sign spec.release of every Deployment in a file for this fleet and that deployment, writing spec.release.signature in place')
    .requiredOption('-f, --filename <file>', 'manifest file')
    .requiredOption('--key <keyfile>', 'private key from "edgefleet keys generate"')
    .option('--fleet <fingerprint>', 'the fleet CA fingerprint (64 hex digits) to sign for; default: ask the server you are logged in to')
    .action(async (opts: { filename: string; key: string; fleet?: string } & ConnectionFlags) => {
      const privateKey = parsePrivateKey(readFlagFile(opts.key, '--key'));
      const text = readFlagFile(opts.filename, '-f');
      const fleet =
        opts.fleet
          ?.replace(/^sha256:/, '')
          .replaceAll(':', '')
          .toLowerCase() ?? (await clientFrom(opts).serverInfo()).caFingerprint;
      const docs = yaml().parseAllDocuments(text);
      // One signing time for the file: its deployments were released together.
      const signedAt = signedTime(Date.now());
      let signed = 0;
      for (const doc of Array.isArray(docs) ? docs : [docs]) {
        if (doc.errors.length > 0 || doc.contents === null) continue;
        const value = doc.toJS() as Record<string, unknown>;
        if (value?.kind !== 'Deployment') continue;
        doc.deleteIn(['spec', 'release', 'signature']);
        // The digest covers the release with defaults applied, exactly as server and agent parse it.
        const manifest = validateManifest(doc.toJS(), opts.filename, 1);
        const signature = signRelease(DeploymentManifestSchema.parse(manifest).spec.release, privateKey, {
          fleet,
          deployment: manifest.metadata.name,
          signedAt,
        });
        doc.setIn(['spec', 'release', 'signature'], signature);
        process.stdout.write(`deployment/${manifest.metadata.name} signed with key ${signature.keyId} for fleet ${fleet.slice(0, 16)}… at ${signedAt}\n`);
        signed++;
      }
      if (signed === 0) throw errors.config(`no Deployment in ${opts.filename}`, 'the file needs a document with kind: Deployment');
      // Re-parse before writing: a document with YAML errors above was left untouched, so refuse instead of half-signing.
      if ((Array.isArray(docs) ? docs : [docs]).some((d) => d.errors.length > 0)) {
        throw errors.config(`${opts.filename} has YAML errors`, 'fix them (edgefleet apply names the line) and sign again');
      }
      // In place, durably and with the file's own mode: a crash leaves the old manifest or the signed one, never half.
      writeFileDurable(opts.filename, (Array.isArray(docs) ? docs : [docs]).map((d) => d.toString()).join(''), statSync(opts.filename).mode & 0o777);
    });
}
