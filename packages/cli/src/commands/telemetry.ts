import { type LogLine, parseDuration, sleep } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { outputFormat, printData, renderTable } from '../output.js';

/** One log line as `edgefleet logs` prints it: time, source[revision], stream, level, line. */
function formatLogLine(l: LogLine): string {
  const source = l.revision === null ? l.source : `${l.source}[r${l.revision}]`;
  return `${l.time} ${source} ${l.stream} ${l.level.toUpperCase()} ${l.line}`;
}

/** `edgefleet logs` and `edgefleet alerts`. */
export function telemetryCommands(program: Command): void {
  program
    .command('logs <node>')
    .description("a node's recent log lines (the agent's and its workloads'), scrubbed on the node")
    .option('--workload <deployment>', "only this workload's lines (`agent` for the agent's own)")
    .option('--since <duration>', 'only lines newer than this, e.g. 10m, 1h, 2d', '1h')
    .option('-f, --follow', 'keep printing new lines as they arrive')
    .option('-o, --output <format>', 'text or json (one JSON object per line)', 'text')
    .action(async (node: string, opts: { workload?: string; since: string; follow?: boolean; output: string } & ConnectionFlags) => {
      parseDuration(opts.since, '--since');
      const json = outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json'], 'table') === 'json';
      const client = clientFrom(opts);
      let after: number | undefined;
      for (;;) {
        const page = await client.nodeLogs(node, {
          ...(opts.workload === undefined ? {} : { workload: opts.workload }),
          ...(after === undefined ? { since: opts.since } : { after }),
        });
        for (const l of page.items) process.stdout.write(`${json ? JSON.stringify(l) : formatLogLine(l)}\n`);
        after = page.next;
        if (page.items.length >= 1000) continue; // more waiting: read on without pausing
        if (opts.follow !== true) return;
        await sleep(2_000);
      }
    });

  program
    .command('alerts')
    .description('local alerts the nodes raised (disk, temperature, throttling, accelerator, queue, crash loops)')
    .option('--all', 'include resolved alerts')
    .option('--node <node>', 'only this node')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: { all?: boolean; node?: string; output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const { items } = await clientFrom(opts).alerts({ state: opts.all === true ? 'all' : 'firing', ...(opts.node === undefined ? {} : { node: opts.node }) });
      if (format !== 'table') return printData({ items }, format);
      if (items.length === 0) {
        process.stdout.write(opts.all === true ? 'no alerts\n' : 'no firing alerts\n');
        return;
      }
      process.stdout.write(
        `${renderTable(items, [
          { header: 'NODE', cell: (a) => a.node },
          { header: 'SITE', cell: (a) => a.site ?? '' },
          { header: 'ALERT', cell: (a) => a.name },
          { header: 'SEVERITY', cell: (a) => a.severity },
          { header: 'STATE', cell: (a) => a.state },
          { header: 'SINCE', cell: (a) => a.since },
          { header: 'MESSAGE', cell: (a) => a.message },
        ])}\n`,
      );
    });
}
