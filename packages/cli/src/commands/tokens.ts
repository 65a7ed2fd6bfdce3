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
    .option('--serial <serial>', 'only the board with this serial may enroll with it (one use)')
    .option('--hostname <name>', 'only a node with this hostname may enroll with it (one use)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(
      async (
        opts: {
          site?: string;
          label: string[];
          ttl: string;
          uses: string;
          output: string;
          releaseKey?: string;
          serial?: string;
          hostname?: string;
        } & ConnectionFlags,
      ) => {
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
          ...(opts.serial === undefined ? {} : { serial: opts.serial }),
          ...(opts.hostname === undefined ? {} : { hostname: opts.hostname }),
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
          }${opts.serial === undefined ? '' : `, board serial ${opts.serial} only`}${opts.hostname === undefined ? '' : `, hostname ${opts.hostname} only`}\n`,
        );
      },
    );
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
  token
    .command('delete <id>')
    .description('delete a bootstrap token: no more nodes enroll with it (enrolled nodes keep working)')
    .action(async (id: string, opts: ConnectionFlags) => {
      await clientFrom(opts).deleteBootstrapToken(id);
      process.stderr.write(`bootstrap token ${id} deleted\n`);
    });

  const apitoken = program.command('apitoken').description('API tokens for operators (admin only)');
  apitoken
    .command('create')
    .description('create an API token (printed once)')
    .requiredOption('--role <role>', 'viewer, operator or admin')
    .option('--name <name>', 'who or what it is for')
    .option('--ttl <duration>', 'lifetime (90d, 12h, …)', '90d')
    .option('--sites <list>', 'limit it to nodes of these sites (comma-separated geolocation.site values; viewer or operator only)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { role: string; name?: string; ttl: string; sites?: string; output: string } & ConnectionFlags) => {
      const parsed = RoleSchema.safeParse(opts.role);
      if (!parsed.success) throw errors.config(`unknown role "${opts.role}"`, 'use --role viewer, --role operator or --role admin');
      const role = parsed.data;
      const ttlSeconds = Math.ceil(parseDuration(opts.ttl, 'ttl') / 1000);
      if (ttlSeconds < 1) throw errors.config(`--ttl ${opts.ttl} is not a positive lifetime`, 'write --ttl 90d, --ttl 30d, --ttl 12h, …');
      const sites = opts.sites === undefined ? undefined : siteList(opts.sites);
      const created = await clientFrom(opts).createApiToken({
        role,
        ttlSeconds,
        ...(opts.name === undefined ? {} : { name: opts.name }),
        ...(sites === undefined ? {} : { sites }),
      });
      if (opts.output === 'json') {
        return printData({ token: created.token, id: created.id, role: created.role, expiresAt: created.expiresAt, sites: created.sites }, 'json');
      }
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `API token ${created.id} with role ${created.role}, expires ${created.expiresAt ?? 'never'}${created.sites === null ? '' : `, limited to sites ${created.sites.join(',')}`}\n`,
      );
    });
  apitoken
    .command('list')
    .description('list API tokens (never their secrets)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const items = await clientFrom(opts).listApiTokens();
      if (format !== 'table') return printData({ items }, format);
      const now = Date.now();
      process.stdout.write(
        `${renderTable(items, [
          { header: 'ID', cell: (t) => t.id },
          { header: 'ROLE', cell: (t) => t.role },
          { header: 'SITES', cell: (t) => (t.sites === null ? '*' : t.sites.join(',')) },
          { header: 'NAME', cell: (t) => t.name ?? '' },
          { header: 'CREATED', cell: (t) => t.createdAt },
          {
            header: 'EXPIRES',
            cell: (t) => (t.expiresAt === null ? 'never' : Date.parse(t.expiresAt) <= now ? `expired ${ago(t.expiresAt, now)}` : t.expiresAt),
          },
          { header: 'LAST USED', cell: (t) => ago(t.lastUsedAt, now) },
        ])}\n`,
      );
    });
  apitoken
    .command('delete <id>')
    .description('delete an API token (the last working admin token cannot be deleted)')
    .action(async (id: string, opts: ConnectionFlags) => {
      await clientFrom(opts).deleteApiToken(id);
      process.stderr.write(`API token ${id} deleted\n`);
    });
}

/** `--sites a,b` as a list; a clear error for an empty one. */
function siteList(text: string): string[] {
  const sites = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (sites.length === 0) throw errors.config(`--sites "${text}" names no site`, 'write --sites store-12,store-13');
  return sites;
}

/** `edgefleet audit`: the audit log, newest first (operators). */
export function auditCommand(program: Command): void {
  program
    .command('audit')
    .description('the audit log, newest first: who changed what (operator role; a token limited to sites sees its own entries)')
    .option('--since <when>', 'only entries newer than a duration ago (1h, 7d) or an ISO time')
    .option('--limit <n>', 'at most this many entries (1-1000)', '100')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { since?: string; limit: string; output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw errors.config(`--limit ${opts.limit} is not between 1 and 1000`, 'write --limit 100');
      const since = opts.since === undefined ? undefined : sinceTime(opts.since, Date.now());
      const items = (await clientFrom(opts).request('audit', { query: { limit, ...(since === undefined ? {} : { since }) } })).items;
      if (format !== 'table') return printData({ items }, format);
      process.stdout.write(
        `${renderTable(items, [
          { header: 'TIME', cell: (e) => e.at },
          { header: 'ACTOR', cell: (e) => e.actor },
          { header: 'ACTION', cell: (e) => e.action },
          { header: 'TARGET', cell: (e) => e.target },
          { header: 'DETAILS', cell: (e) => JSON.stringify(e.details) },
        ])}\n`,
      );
    });
}

/** The pin fingerprint of a release public key file, with a clear error for anything else. */
export function releaseKeyFileFingerprint(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw errors.config(`cannot read --release-key ${file}: ${(err as Error).message}`, 'give the NAME.pub file written by "edgefleet keys generate"');
  }
  return releaseKeyFingerprint(pem);
}

/** `--since`: a duration ago (`1h`) or an ISO time, as an ISO time; a clear error otherwise. */
export function sinceTime(text: string, now: number): string {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const at = Date.parse(text);
    if (Number.isNaN(at)) throw errors.config(`--since ${text} is not a valid ISO time`, 'write --since 2026-12-01T10:00:00Z or a duration such as --since 1h');
    return new Date(at).toISOString();
  }
  return new Date(now - parseDuration(text, 'since')).toISOString();
}
