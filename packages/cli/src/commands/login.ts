import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { normaliseServerUrl } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import type { Command } from 'commander';
import { readFlagFile, writeConfig } from '../connection.js';

/** `edgefleet login`: checks a server and token work, then saves them for later commands. */
export function loginCommand(program: Command): void {
  program
    .command('login')
    .description('save a server URL, API token and CA to ~/.config/edgefleet/config.yaml')
    .requiredOption('--server <url>', 'control plane URL, https://HOST:PORT')
    .requiredOption('--token-file <file>', 'file holding an API token (the first admin token is DATA/admin.token)')
    .option('--ca <file>', 'fleet CA certificate (default: ca.crt beside the token file, when there is one)')
    .action(async (opts: { server: string; tokenFile: string; ca?: string }) => {
      const token = readFlagFile(opts.tokenFile, '--token-file');
      const caPath = opts.ca ?? (existsSync(join(dirname(opts.tokenFile), 'ca.crt')) ? join(dirname(opts.tokenFile), 'ca.crt') : undefined);
      const ca = caPath === undefined ? undefined : readFlagFile(caPath, '--ca');
      const server = normaliseServerUrl(opts.server);
      const client = new EdgefleetClient({ server, token, ...(ca === undefined ? {} : { ca }) });
      try {
        // A viewer-level call proves both the TLS trust and the token before we save them.
        await client.listNodes();
      } finally {
        await client.close();
      }
      const path = writeConfig({ server, token, ...(ca === undefined ? {} : { ca }) });
      process.stdout.write(`logged in to ${server}; saved to ${path}${caPath === undefined ? '' : ` (CA from ${caPath})`}\n`);
    });
}
