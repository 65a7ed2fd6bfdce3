import type { RolloutStatus } from '@edgefleet/protocol';
import { sleep } from '@edgefleet/protocol';
import type { Command } from 'commander';
import { type ConnectionFlags, clientFrom } from '../connection.js';
import { outputFormat, printData } from '../output.js';
import { type RenderOptions, renderEvents, renderGateVerdicts, stdoutColour } from './gate-verdicts.js';

const ENDED = new Set(['Succeeded', 'RolledBack', 'Aborted']);

/** What a status line shows of a rollout's status. */
type StatusLineInput = Pick<RolloutStatus, 'deployment' | 'revision' | 'fromRevision' | 'phase' | 'step' | 'steps' | 'nodes'> & {
  gate: Pick<NonNullable<RolloutStatus['gate']>, 'result' | 'reason'> | null;
};

/** A one-line summary of a rollout, with a progress bar of updated nodes. */
export function statusLine(s: StatusLineInput, width = 30): string {
  const share = s.nodes.total === 0 ? 0 : s.nodes.updated / s.nodes.total;
  const filled = Math.round(share * width);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  const gate = s.gate === null ? '' : ` gate ${s.gate.result} (${s.gate.reason})`;
  const extra = [
    s.nodes.deferred > 0 ? `${s.nodes.deferred} deferred` : '',
    s.nodes.failed > 0 ? `${s.nodes.failed} failed` : '',
    s.nodes.rolledBack > 0 ? `${s.nodes.rolledBack} rolled back` : '',
  ]
    .filter((x) => x !== '')
    .join(', ');
  return `${s.deployment} r${s.fromRevision ?? '-'}→r${s.revision} ${s.phase} step ${s.step}/${s.steps} ${bar} ${s.nodes.updated}/${s.nodes.total} updated${extra === '' ? '' : `, ${extra}`}${gate}`;
}

/**
 * The human status: the status line, the latest gate evaluation (per gate when the server
 * judged per gate, else its raw measurements as before) and the conditions.
 */
export function renderStatus(s: RolloutStatus, opts: RenderOptions): string {
  const lines = [statusLine(s)];
  if (s.gate !== null) {
    // Its message in words is the GatesPassing condition's, printed with the conditions.
    lines.push(`gate: ${s.gate.result} — ${s.gate.reason}`);
    if (s.gate.gates.length > 0) lines.push(...renderGateVerdicts(s.gate, opts));
    else {
      const measured = Object.entries(s.gate.measured).map(([k, v]) => `${k}=${v}`);
      const thresholds = Object.entries(s.gate.thresholds).map(([k, v]) => `${k}=${v}`);
      lines.push(`  measured:   ${measured.join(' ')}`, `  thresholds: ${thresholds.join(' ')}`);
    }
  }
  for (const c of s.conditions) lines.push(`${c.type}=${c.status} (${c.reason}) ${c.message}`);
  return `${lines.join('\n')}\n`;
}

/** `edgefleet rollout …` and `edgefleet events`. */
export function rolloutCommands(program: Command): void {
  const rollout = program.command('rollout').description('staged rollouts of a deployment');
  rollout
    .command('status <name>')
    .description('phase, step, node counts, the latest gate evaluation and conditions')
    .option('-w, --watch', 'follow until the rollout ends (a live bar in a terminal, a line per change otherwise)')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (name: string, opts: { watch?: boolean; output: string } & ConnectionFlags) => {
      const client = clientFrom(opts);
      const json = outputFormat(opts.output === 'text' ? 'table' : opts.output, ['table', 'json'], 'table') === 'json';
      if (opts.watch !== true) {
        const s = await client.rolloutStatus(name);
        if (json) return printData(s, 'json');
        return void process.stdout.write(renderStatus(s, { colour: stdoutColour() }));
      }
      const tty = process.stdout.isTTY === true && !json;
      let last = '';
      for (;;) {
        const s = await client.rolloutStatus(name);
        const line = json ? JSON.stringify(s) : statusLine(s);
        if (line !== last) {
          process.stdout.write(tty ? `\r\u001b[2K${line}` : `${line}\n`);
          last = line;
        }
        if (ENDED.has(s.phase)) {
          if (tty) process.stdout.write('\n');
          return;
        }
        await sleep(1_000);
      }
    });
  for (const [command, description] of [
    ['pause', 'stop moving nodes; gates keep being evaluated'],
    ['resume', 'continue a paused rollout'],
    ['abort', 'put every node that got the new revision back, and stop'],
  ] as const) {
    rollout
      .command(`${command} <name>`)
      .description(description)
      .action(async (name: string, opts: ConnectionFlags) => {
        await clientFrom(opts).rolloutCommand(name, command);
        process.stdout.write(`rollout/${name} ${command} requested\n`);
      });
  }
  rollout
    .command('promote <name>')
    .description("skip the current step's bake and gates")
    .option('--full', 'skip every remaining step')
    .action(async (name: string, opts: { full?: boolean } & ConnectionFlags) => {
      await clientFrom(opts).rolloutCommand(name, 'promote', opts.full === true ? { full: true } : {});
      process.stdout.write(`rollout/${name} promote${opts.full === true ? ' --full' : ''} requested\n`);
    });
  rollout
    .command('undo <name>')
    .description('roll back to the previous revision through the same steps')
    .option('--now', 'roll back every node at once')
    .action(async (name: string, opts: { now?: boolean } & ConnectionFlags) => {
      await clientFrom(opts).rolloutCommand(name, 'undo', opts.now === true ? { now: true } : {});
      process.stdout.write(`rollout/${name} undo${opts.now === true ? ' --now' : ''} requested\n`);
    });

  program
    .command('events')
    .description('every rollout decision: steps, gates with measured values, deferrals, rollbacks')
    .option('--deployment <name>', 'only this deployment')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (opts: { deployment?: string; output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      const items = await clientFrom(opts).events(opts.deployment);
      if (format !== 'table') return printData({ items }, format);
      process.stdout.write(`${renderEvents(items, { colour: stdoutColour() })}\n`);
    });
}
