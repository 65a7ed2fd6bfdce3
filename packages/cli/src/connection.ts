import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { errors } from '@edgefleet/protocol';
import { EdgefleetClient, writeFileDurable } from '@edgefleet/protocol/node';
import type { Command } from 'commander';
import type * as Yaml from 'yaml';

/** yaml, loaded on first use: `edgefleet agent` runs for months without it (issue 6 footprint). */
const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

/** Global connection flags every API command accepts. */
export interface ConnectionFlags {
  server?: string;
  token?: string;
  ca?: string;
}

/** Adds --server, --token and --ca to a command that calls the API. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--server <url>', 'control plane URL (or EDGEFLEET_SERVER, or "edgefleet login")')
    .option('--token <token>', 'API token (or EDGEFLEET_TOKEN)')
    .option('--ca <file>', 'fleet CA certificate, PEM (or EDGEFLEET_CA)');
}

/**
 * ~/.config/edgefleet/config.yaml, as `edgefleet login` writes it: `server`, `token`, and
 * `ca` (the fleet CA's PEM, inline so the config works wherever it is copied).
 */
interface CliConfig {
  server?: string;
  token?: string;
  ca?: string;
}

function configPath(): string {
  const base = process.env.XDG_CONFIG_HOME ?? join(homedir(), '.config');
  return join(base, 'edgefleet', 'config.yaml');
}

function readConfig(): CliConfig {
  const path = configPath();
  if (!existsSync(path)) return {};
  let parsed: unknown;
  try {
    parsed = yaml().parse(readFileSync(path, 'utf8')) ?? {};
  } catch (err) {
    throw errors.config(`cannot read ${path}: ${(err as Error).message}`, 'fix the file or run "edgefleet login" again');
  }
  const hint = 'it holds server, token and ca as strings: fix the file or run "edgefleet login" again';
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw errors.config(`cannot read ${path}: not a mapping of settings`, hint);
  const config: CliConfig = {};
  for (const key of ['server', 'token', 'ca'] as const) {
    const value = (parsed as Record<string, unknown>)[key];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') throw errors.config(`cannot read ${path}: ${key} is not a string`, hint);
    config[key] = value;
  }
  return config;
}

export function writeConfig(config: CliConfig): string {
  const path = configPath();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // The file holds an API token: readable by its owner only.
  writeFileDurable(path, yaml().stringify(config), 0o600);
  return path;
}

/** Reads a file a flag names, with an error that says which flag. */
export function readFlagFile(path: string, flag: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw errors.config(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, `check the path given to ${flag}`);
  }
}

/**
 * Builds the API client from, in order: flags, then EDGEFLEET_SERVER / EDGEFLEET_TOKEN /
 * EDGEFLEET_CA (a PEM file), then the login config. Each setting falls back on its own.
 */
export function clientFrom(flags: ConnectionFlags): EdgefleetClient {
  const config = readConfig();
  const server = flags.server ?? process.env.EDGEFLEET_SERVER ?? config.server;
  const token = flags.token ?? process.env.EDGEFLEET_TOKEN ?? config.token;
  const caFile = flags.ca ?? process.env.EDGEFLEET_CA;
  const ca = caFile !== undefined && caFile !== '' ? readFlagFile(caFile, flags.ca !== undefined ? '--ca' : 'EDGEFLEET_CA') : config.ca;
  if (server === undefined || server === '') {
    throw errors.config('no server given', 'pass --server URL, set EDGEFLEET_SERVER, or run "edgefleet login --server URL --token-file F"');
  }
  if (token === undefined || token === '') {
    throw errors.config(
      'no API token given',
      'pass --token, set EDGEFLEET_TOKEN, or run "edgefleet login" (the first admin token is in the server data dir: admin.token)',
    );
  }
  return new EdgefleetClient({ server, token, ...(ca === undefined ? {} : { ca }) });
}
