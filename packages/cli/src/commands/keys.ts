import { generateKeyPairSync } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DeploymentManifestSchema, errors } from '@edgefleet/protocol';
import { endorseKey, parsePrivateKey, parsePublicKey, publicKeyId, signRelease, validateManifest, writeFileDurable } from '@edgefleet/protocol/node';
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
    .description('make the server trust a release public key (keys after the first need --endorse-with)')
    .option('--endorse-with <keyfile>', 'a trusted private key that endorses the new key')
    .action(async (pubfile: string, opts: { endorseWith?: string } & ConnectionFlags) => {
      const pem = readFlagFile(pubfile, 'NAME.pub');
      const key = parsePublicKey(pem);
      const endorsement = opts.endorseWith === undefined ? undefined : endorseKey(key, parsePrivateKey(readFlagFile(opts.endorseWith, '--endorse-with')));
      const trusted = await clientFrom(opts).trustKey(pem, endorsement);
      process.stdout.write(`key ${trusted.keyId} trusted${trusted.signedBy === null ? '' : ` (endorsed by ${trusted.signedBy})`}\n`);
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
        ])}\n`,
      );
    });

  program
    .command('release')
    .description('signed releases')
    .command('sign')
    .description('sign spec.release of every Deployment in a file, writing spec.release.signature in place')
    .requiredOption('-f, --filename <file>', 'manifest file')
    .requiredOption('--key <keyfile>', 'private key from "edgefleet keys generate"')
    .action((opts: { filename: string; key: string }) => {
      const privateKey = parsePrivateKey(readFlagFile(opts.key, '--key'));
      const text = readFlagFile(opts.filename, '-f');
      const docs = yaml().parseAllDocuments(text);
      let signed = 0;
      for (const doc of Array.isArray(docs) ? docs : [docs]) {
        if (doc.errors.length > 0 || doc.contents === null) continue;
        const value = doc.toJS() as Record<string, unknown>;
        if (value?.kind !== 'Deployment') continue;
        doc.deleteIn(['spec', 'release', 'signature']);
        // The digest covers the release with defaults applied, exactly as server and agent parse it.
        const manifest = validateManifest(doc.toJS(), opts.filename, 1);
        const signature = signRelease(DeploymentManifestSchema.parse(manifest).spec.release, privateKey);
        doc.setIn(['spec', 'release', 'signature'], signature);
        process.stdout.write(`deployment/${manifest.metadata.name} signed with key ${signature.keyId}\n`);
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
