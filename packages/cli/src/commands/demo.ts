import { resolve } from 'node:path';
import { errors } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { untilSignalled } from './util.js';

/** A whole number flag within bounds, or a clear error naming the flag. */
function count(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw errors.config(`--${flag} must be a whole number from ${min} to ${max} (got "${value}")`, `for example --${flag} ${min * 10}`);
  return n;
}

/** `edgefleet demo` (what `npm start` runs): a server, a simulated fleet and a rollout story. */
export function demoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a control plane and a simulated fleet, and show a staged rollout, a rollback and a site outage')
    .option('--nodes <n>', 'simulated nodes', '60')
    .option('--sites <n>', 'sites the nodes are spread over', '6')
    .option('--seed <n>', 'seed of every random choice', '42')
    .option('--data <dir>', 'demo data dir (wiped at start)', './.edgefleet-demo')
    .option('--listen <host:port>', 'server address (port 0 picks a free one)', '127.0.0.1:8443')
    .action(async (opts: { nodes: string; sites: string; seed: string; data: string; listen: string }) => {
      const nodes = count('nodes', opts.nodes, 1, 100_000);
      const sites = count('sites', opts.sites, 1, Math.max(1, nodes));
      const seed = count('seed', opts.seed, 0, 2 ** 31);
      const { runDemo } = await import('../demo/story.js');
      const abort = new AbortController();
      // The repository root: examples/ holds the demo's models.
      const root = resolve(import.meta.dirname, '../../../..');
      await untilSignalled(
        () => abort.abort(),
        () => runDemo({ dataDir: opts.data, listen: opts.listen, nodes, sites, seed, root }, abort.signal),
      ).catch((err: unknown) => {
        if (!abort.signal.aborted) throw err;
      });
    });
}
