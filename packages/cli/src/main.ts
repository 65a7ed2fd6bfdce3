import { EdgefleetError } from '@edgefleet/protocol';
import { Command, CommanderError } from 'commander';
import { agentCommand, devicePluginCommand } from './commands/agent.js';
import { artifactCommands } from './commands/artifacts.js';
import { demoCommand } from './commands/demo.js';
import { deploymentCommands } from './commands/deployments.js';
import { exportCommands } from './commands/export.js';
import { keyCommands } from './commands/keys.js';
import { sloCommands } from './commands/latency.js';
import { loginCommand } from './commands/login.js';
import { nodeCommands } from './commands/nodes.js';
import { provisionCommands } from './commands/provision.js';
import { registryCommands } from './commands/registries.js';
import { rolloutCommands } from './commands/rollouts.js';
import { serverCommand } from './commands/server.js';
import { simCommand } from './commands/sim.js';
import { sourceCommands } from './commands/sources.js';
import { telemetryCommands } from './commands/telemetry.js';
import { auditCommand, tokenCommands } from './commands/tokens.js';
import { withConnection } from './connection.js';

/** Builds the `edgefleet` command tree. */
export function buildProgram(): Command {
  const program = new Command('edgefleet')
    .description('operate fleets of Raspberry Pi edge-AI nodes')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  serverCommand(program);
  agentCommand(program);
  devicePluginCommand(program);
  loginCommand(program);
  tokenCommands(program);
  provisionCommands(program);
  auditCommand(program);
  nodeCommands(program);
  artifactCommands(program);
  deploymentCommands(program);
  exportCommands(program);
  keyCommands(program);
  rolloutCommands(program);
  sourceCommands(program);
  registryCommands(program);
  telemetryCommands(program);
  sloCommands(program);
  simCommand(program);
  demoCommand(program);
  // Every command that calls the API takes the connection flags.
  const API_GROUPS = ['token', 'apitoken', 'nodes', 'deployments', 'keys', 'release', 'artifact', 'source', 'rollout', 'export'];
  for (const group of program.commands.filter((c) => API_GROUPS.includes(c.name()))) {
    for (const leaf of group.commands) withConnection(leaf);
  }
  // `registry add` has its own --server (the registry's address) and its own --token and --ca.
  for (const leaf of program.commands.find((c) => c.name() === 'registry')?.commands.filter((c) => c.name() !== 'add') ?? []) withConnection(leaf);
  for (const leaf of program.commands.filter((c) => ['apply', 'events', 'logs', 'alerts', 'audit'].includes(c.name()))) withConnection(leaf);
  return program;
}

/** Runs the CLI; returns the process exit code. Errors print message and hint on stderr. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof EdgefleetError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint !== '') process.stderr.write(`hint: ${err.hint}\n`);
      return err.status === 0 || err.status >= 500 ? 1 : 2;
    }
    process.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}
