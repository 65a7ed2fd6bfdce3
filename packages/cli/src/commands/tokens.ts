import { readFileSync } from 'node:fs';
import { errors, parseBootstrapToken, parseDuration, RoleSchema } from '@edgefleet/protocol';
import { releaseKeyFingerprint } from '@edgefleet/protocol/node';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { ago, outputFormat, printData, renderTable } from '../output.js';
import { labelFlags } from './agent.js';
import { collect } from './util.js';

/** `edgefleet token …` (bootstrap tokens) and `edgefleet apitoken …` (operator API tokens). */
export function tokenCommands(program: Command): void {
  const token = program.command('token').description('bootstrap tokens that let nodes enroll');
  token
    .command('create')
    .description('create a bootstrap token (printed once)')
    .option('--site <site>', 'site every node enrolled with it gets (label geolocation.site)')
    .option('--label <k=v>', 'label every node enrolled with it gets (repeatable)', collect, [])
    .option('--ttl <duration>', 'lifetime, at most 30d', '24h')
    .option('--uses <n>', 'how many nodes may enroll with it', '1')
    .option('--release-key <file>', 'release public key (NAME.pub) new nodes must pin, instead of trusting the server for it')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { site?: string; label: string[]; ttl: string; uses: string; output: string; releaseKey?: string } & ConnectionFlags) => {
      const uses = Number(opts.uses);
      if (!Number.isInteger(uses) || uses < 1) throw errors.config(`--uses ${opts.uses} is not a positive whole number`, 'write --uses 1, --uses 50, …');
      const ttlSeconds = Math.ceil(parseDuration(opts.ttl, 'ttl') / 1000);
      const labels = labelFlags(opts.label);
      const releaseKey = opts.releaseKey === undefined ? undefined : releaseKeyFileFingerprint(opts.releaseKey);
      const created = await clientFrom(opts).createBootstrapToken({
        ttlSeconds,
        uses,
        labels,
        ...(opts.site === undefined ? {} : { site: opts.site }),
        ...(releaseKey === undefined ? {} : { releaseKeyFingerprint: releaseKey }),
      });
      // The pin must come from this file, not from the server's word: check the token names it.
      if (releaseKey !== undefined && parseBootstrapToken(created.token).releaseKeyFingerprint !== releaseKey) {
        throw errors.serverUntrusted(
          `the server returned a token that does not name the release key sha256:${releaseKey}`,
          'do not use this token; check the server (and that it runs this edgefleet version)',
        );
      }
      if (opts.output === 'json') {
        printData({ token: created.token, id: created.id, expiresAt: created.expiresAt }, 'json');
        return;
      }
      outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json'], 'table');
      // The token alone on stdout, so `TOKEN=$(edgefleet token create)` works; the rest on stderr.
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `bootstrap token ${created.id}: ${created.uses} use(s), expires ${created.expiresAt}${created.site === null ? '' : `, site ${created.site}`}${
          releaseKey === undefined ? '' : `, nodes pin release key sha256:${releaseKey}`
        }\n`,
      );
    });
  token
    .command('list')
    .description('list bootstrap tokens (never their secrets)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const items = await clientFrom(opts).listBootstrapTokens();
      if (format !== 'table') return printData({ items }, format);
      const now = Date.now();
      process.stdout.write(
        `${renderTable(items, [
          { header: 'ID', cell: (t) => t.id },
          { header: 'SITE', cell: (t) => t.site ?? '' },
          { header: 'USES LEFT', cell: (t) => `${t.usesLeft}/${t.uses}` },
          { header: 'EXPIRES', cell: (t) => (Date.parse(t.expiresAt) <= now ? `expired ${ago(t.expiresAt, now)}` : t.expiresAt) },
          {
            header: 'LABELS',
            cell: (t) =>
              Object.entries(t.labels)
                .map(([k, v]) => `${k}=${v}`)
                .join(','),
          },
        ])}\n`,
      );
    });

  const apitoken = program.command('apitoken').description('API tokens for operators (admin only)');
  apitoken
    .command('create')
    .description('create an API token (printed once)')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--name <name>', 'who or what it is for')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { role: string; name?: string; output: string } & ConnectionFlags) => {
      const parsed = RoleSchema.safeParse(opts.role);
      if (!parsed.success) throw errors.config(`unknown role "${opts.role}"`, 'use --role viewer, --role operator or --role admin');
      const role = parsed.data;
      const created = await clientFrom(opts).createApiToken({ role, ...(opts.name === undefined ? {} : { name: opts.name }) });
      if (opts.output === 'json') return printData({ token: created.token, id: created.id, role: created.role }, 'json');
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(`API token ${created.id} with role ${created.role}\n`);
    });
  apitoken
    .command('list')
    .description('list API tokens (never their secrets)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const items = await clientFrom(opts).listApiTokens();
      if (format !== 'table') return printData({ items }, format);
      process.stdout.write(
        `${renderTable(items, [
          { header: 'ID', cell: (t) => t.id },
          { header: 'ROLE', cell: (t) => t.role },
          { header: 'NAME', cell: (t) => t.name ?? '' },
          { header: 'CREATED', cell: (t) => t.createdAt },
        ])}\n`,
      );
    });
}

/** The pin fingerprint of a release public key file, with a clear error for anything else. */
function releaseKeyFileFingerprint(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw errors.config(`cannot read --release-key ${file}: ${(err as Error).message}`, 'give the NAME.pub file written by "edgefleet keys generate"');
  }
  return releaseKeyFingerprint(pem);
}
