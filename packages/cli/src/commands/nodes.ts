import { type Node, type NodeCertificateList, parseDuration, parseLabelArg } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { ago, type Column, outputFormat, printData, renderTable } from '../output.js';

/** Table columns of `nodes list`, as data. */
export const NODE_COLUMNS: Column<Node>[] = [
  { header: 'NAME', cell: (n) => n.name },
  { header: 'ID', cell: (n) => n.id },
  { header: 'SITE', cell: (n) => n.site ?? '' },
  { header: 'STATUS', cell: (n) => n.status },
  { header: 'BOARD', cell: (n) => n.labels['board.model'] ?? '' },
  { header: 'ACCELERATOR', cell: (n) => n.labels['ai.accelerator'] ?? '' },
  { header: 'ARCH', cell: (n) => n.labels['cpu.arch'] ?? '' },
  { header: 'LAST SEEN', cell: (n) => ago(n.lastSeen) },
];

/** Table columns of `nodes certs`. */
const CERTIFICATE_COLUMNS: Column<NodeCertificateList['items'][number]>[] = [
  { header: 'SERIAL', cell: (c) => c.serial },
  { header: 'ISSUED', cell: (c) => c.issuedAt },
  { header: 'NOT AFTER', cell: (c) => c.notAfter },
  { header: 'FIRST USED', cell: (c) => c.firstUsedAt ?? 'never' },
  { header: 'REVOKED', cell: (c) => (c.revokedAt === null ? '' : `${c.revokedAt}${c.revokedReason === null ? '' : ` (${c.revokedReason})`}`) },
];

/** The `nodes list -o json` item shape: exactly these keys. */
function listItem(n: Node): Pick<Node, 'id' | 'name' | 'site' | 'labels' | 'status' | 'lastSeen' | 'facts'> {
  return { id: n.id, name: n.name, site: n.site, labels: n.labels, status: n.status, lastSeen: n.lastSeen, facts: n.facts };
}

/** `edgefleet nodes …`. */
export function nodeCommands(program: Command): void {
  const nodes = program.command('nodes').description('enrolled nodes');
  nodes
    .command('list')
    .description('list nodes, optionally filtered by a label selector')
    .option('-l, --selector <selector>', 'label selector: k=v, k!=v, k in (a,b), k notin (a,b), k, !k')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (opts: { selector?: string; output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const list = await clientFrom(opts).listNodes(opts.selector);
      if (format !== 'table') return printData({ items: list.items.map(listItem) }, format);
      if (list.items.length === 0) {
        process.stderr.write(
          opts.selector === undefined
            ? 'No nodes enrolled yet. Create a token with "edgefleet token create" and start an agent.\n'
            : `No nodes match "${opts.selector}".\n`,
        );
        return;
      }
      process.stdout.write(`${renderTable(list.items, NODE_COLUMNS)}\n`);
    });
  nodes
    .command('get <node>')
    .description('show one node (by id or name)')
    .option('-o, --output <format>', 'json or yaml', 'yaml')
    .action(async (ref: string, opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['json', 'yaml'], 'yaml') as 'json' | 'yaml';
      printData(await clientFrom(opts).getNode(ref), format);
    });
  nodes
    .command('label <node> <labels...>')
    .description('set operator labels (k=v) or remove them (k-); operator labels win over detected ones')
    .action(async (ref: string, args: string[], opts: ConnectionFlags) => {
      const set: Record<string, string> = {};
      const remove: string[] = [];
      for (const arg of args) {
        const parsed = parseLabelArg(arg);
        if ('remove' in parsed) remove.push(parsed.key);
        else set[parsed.key] = parsed.value;
      }
      const node = await clientFrom(opts).labelNode(ref, { set, remove });
      process.stdout.write(`node/${node.name} labeled\n`);
    });
  nodes
    .command('delete <node>')
    .description('decommission a node: revoke its certificate and delete its record')
    .action(async (ref: string, opts: ConnectionFlags) => {
      const client = clientFrom(opts);
      const node = await client.getNode(ref);
      await client.deleteNode(node.id);
      process.stdout.write(`node/${node.name} deleted; its certificate is revoked\n`);
    });
  nodes
    .command('reenroll <node>')
    .description(
      'print a one-use bootstrap token that enrolls this node again (same id, name and labels), for hardware that lost its key or is past its renewal grace; its previous certificates are revoked when it is used',
    )
    .option('--ttl <duration>', 'lifetime, at most 30d', '24h')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (ref: string, opts: { ttl: string; output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json'], 'table');
      const ttlSeconds = Math.ceil(parseDuration(opts.ttl, 'ttl') / 1000);
      const client = clientFrom(opts);
      const node = await client.getNode(ref);
      const created = await client.request('reenrollNode', { params: { ref: node.id }, body: { ttlSeconds } });
      if (format === 'json') {
        printData({ token: created.token, id: created.id, node: node.id, expiresAt: created.expiresAt }, 'json');
        return;
      }
      // The token alone on stdout, as with `token create`; the rest on stderr.
      process.stdout.write(`${created.token}\n`);
      process.stderr.write(
        `one-use token ${created.id} re-enrolls node/${node.name} (${node.id}), expires ${created.expiresAt}: clear the agent's data dir and start it with --token\n`,
      );
    });
  nodes
    .command('certs <node>')
    .description('list the certificates issued to a node, newest first (serials for revoke-cert)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (ref: string, opts: { output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const list = await clientFrom(opts).request('listNodeCertificates', { params: { ref } });
      if (format !== 'table') return printData(list, format);
      process.stdout.write(`${renderTable(list.items, CERTIFICATE_COLUMNS)}\n`);
    });
  nodes
    .command('revoke-cert <node> <serial>')
    .description('revoke one certificate of a node (a copied or lost key); requests with it are refused from then on')
    .action(async (ref: string, serial: string, opts: ConnectionFlags) => {
      const client = clientFrom(opts);
      const node = await client.getNode(ref);
      await client.request('revokeNodeCertificate', { params: { ref: node.id, serial } });
      process.stdout.write(`certificate ${serial} of node/${node.name} revoked\n`);
    });
}
