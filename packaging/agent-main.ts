/**
 * The entry of the packaged agent (`/usr/bin/edgefleet-agent`, bundled by
 * scripts/package-agent.mjs): `edgefleet agent` alone, so the bundle carries the agent and
 * none of the server, simulator or dashboard. `edgefleet-agent ARGS` is `edgefleet agent ARGS`.
 */
import { EdgefleetError } from '@edgefleet/protocol';
import { Command, CommanderError } from 'commander';
import { agentCommand } from '../packages/cli/src/commands/agent.js';

/** Runs the agent command; returns the process exit code, as `edgefleet` does. */
async function main(argv: string[]): Promise<number> {
  const program = new Command('edgefleet-agent').exitOverride();
  agentCommand(program);
  try {
    await program.parseAsync([...argv.slice(0, 2), 'agent', ...argv.slice(2)]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof EdgefleetError) {
      process.stderr.write(`error: ${err.message}\n`);
      if (err.hint !== '') process.stderr.write(`hint: ${err.hint}\n`);
      // 2: a configuration or credential problem no restart fixes (the unit's RestartPreventExitStatus).
      return err.status === 0 || err.status >= 500 ? 1 : 2;
    }
    process.stderr.write(`error: ${(err as Error).message ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
