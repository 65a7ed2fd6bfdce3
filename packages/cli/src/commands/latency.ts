import { errors, gatesYaml, type LatencyHistory, type LatencyHour, parseDuration, type SloSuggestion, suggestGates } from '@edgefleet/protocol';
import { type Command, CommanderError } from 'commander';
import { type ConnectionFlags, clientFrom, withConnection } from '../connection.js';
import { type Column, outputFormat, printData, renderTable } from '../output.js';

/** The server keeps 30 days of latency history. */
const HISTORY_DAYS = 30;

/** Exit status of `slo suggest` when the history is too short to suggest anything. */
export const EXIT_NOT_ENOUGH_HISTORY = 3;

/** Checks a window flag before asking the server: a duration from an hour to 30 days. */
export function checkWindow(value: string, flag: string): string {
  const ms = parseDuration(value, flag);
  if (ms < 3_600_000 || ms > HISTORY_DAYS * 86_400_000)
    throw errors.config(
      `${flag} ${value} is outside the latency history`,
      `the server keeps ${HISTORY_DAYS} days of hourly history: give ${flag} from 1h to 30d, for example ${flag} 7d`,
      {
        field: flag,
      },
    );
  return value;
}

/** `2026-11-03 14:00` (UTC): hours read better without the seconds and the zone letter. */
const hourText = (iso: string): string => `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
const msText = (ms: number): string => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : String(Math.round(ms)));
const rateText = (h: { requests: number; errors: number }): string => (h.requests === 0 ? '-' : `${((h.errors / h.requests) * 100).toFixed(2)}%`);

function latencyColumns(bySite: boolean): Column<LatencyHour>[] {
  return [
    { header: 'HOUR (UTC)', cell: (h) => hourText(h.hour) },
    { header: 'REVISION', cell: (h) => String(h.revision) },
    ...(bySite ? [{ header: 'SITE', cell: (h: LatencyHour) => h.site || '-' }] : []),
    { header: 'REQUESTS', cell: (h) => String(h.requests) },
    { header: 'P50 MS', cell: (h) => msText(h.p50Ms) },
    { header: 'P95 MS', cell: (h) => msText(h.p95Ms) },
    { header: 'P99 MS', cell: (h) => msText(h.p99Ms) },
    { header: 'ERRORS', cell: rateText },
  ];
}

/** The table of `deployments latency`: one line per hour and revision, then each revision over the window. */
export function renderLatency(history: LatencyHistory): string {
  if (history.hours.length === 0)
    return `No latency history for ${history.deployment} since ${hourText(history.since)} UTC: nodes report it once they serve requests.`;
  const summary = renderTable(history.revisions, [
    { header: 'REVISION', cell: (r) => `${r.revision}${r.revision === history.revision ? ' (current)' : ''}` },
    { header: 'HOURS', cell: (r) => String(r.hours) },
    { header: 'REQUESTS', cell: (r) => String(r.requests) },
    { header: 'P50 MS', cell: (r) => msText(r.p50Ms) },
    { header: 'P95 MS', cell: (r) => msText(r.p95Ms) },
    { header: 'P99 MS', cell: (r) => msText(r.p99Ms) },
    { header: 'ERRORS', cell: rateText },
  ]);
  return `${renderTable(history.hours, latencyColumns(history.bySite))}\n\nSince ${hourText(history.since)} UTC:\n${summary}`;
}

/** The text of `slo suggest`: each number and why, then the block to paste. */
export function renderSuggestion(s: Extract<SloSuggestion, { ok: true }>): string {
  const e = s.evidence;
  const lines = [
    `Suggested gates for ${s.deployment}, from ${e.hours} hours of revision ${e.revision} at ${e.sites.length} site(s) (${e.requests} requests, ${hourText(s.window.since)} – ${hourText(s.window.until)} UTC):`,
    '',
  ];
  for (const r of s.reasons) lines.push(`  ${r.setting}: ${r.value}`, `    ${r.why}`, '');
  lines.push("Paste under spec.rollout (and set the first step's bake):", '', gatesYaml(s.gates).trimEnd());
  lines.push(`# steps: [{percent: ${s.firstStep.percent}, bake: ${s.firstStep.bake}}, …]`);
  return lines.join('\n');
}

/** `edgefleet deployments latency NAME`: added to the `deployments` group. */
export function deploymentLatencyCommand(deployments: Command): void {
  deployments
    .command('latency <name>')
    .description('hourly latency history of a deployment: requests, P50/P95/P99 and error rate per hour and revision (kept 30 days)')
    .option('--since <duration>', 'how far back, 1h to 30d', '7d')
    .option('--site <site>', 'only this site (geolocation.site)')
    .option('--by-site', 'one line per site instead of the sites merged')
    .option('--revision <n>', 'only this revision')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (name: string, opts: { since: string; site?: string; bySite?: boolean; revision?: string; output: string } & ConnectionFlags) => {
      const format = outputFormat(opts.output, ['table', 'json', 'yaml'], 'table');
      checkWindow(opts.since, '--since');
      const revision = opts.revision === undefined ? undefined : Number(opts.revision);
      if (revision !== undefined && !(Number.isInteger(revision) && revision > 0))
        throw errors.config(`--revision ${opts.revision} is not a revision number`, 'give a whole number of 1 or more (see "edgefleet deployments get NAME")');
      const history = await clientFrom(opts).deploymentLatency(name, {
        since: opts.since,
        ...(opts.site === undefined ? {} : { site: opts.site }),
        ...(revision === undefined ? {} : { revision }),
        ...(opts.bySite === true ? { bySite: true } : {}),
      });
      if (format !== 'table') return printData(history, format);
      process.stdout.write(`${renderLatency(history)}\n`);
    });
}

/** `edgefleet slo suggest DEPLOYMENT`. */
export function sloCommands(program: Command): void {
  const slo = program.command('slo').description('service level objectives from the latency history');
  withConnection(
    slo
      .command('suggest <deployment>')
      .description("propose rollout gate thresholds from the current revision's latency history, each number explained")
      .option('--window <duration>', 'history to learn from, 1h to 30d', '7d')
      .option('-o, --output <format>', 'text, json or yaml', 'text'),
  ).action(async (name: string, opts: { window: string; output: string } & ConnectionFlags) => {
    if (!['text', 'json', 'yaml'].includes(opts.output)) throw errors.config(`unknown output format "${opts.output}"`, 'use -o text, -o json or -o yaml');
    checkWindow(opts.window, '--window');
    const client = clientFrom(opts);
    const [history, deployment] = await Promise.all([client.deploymentLatency(name, { since: opts.window, bySite: true }), client.getDeployment(name)]);
    const firstStepPercent = deployment.spec.rollout?.steps?.[0]?.percent;
    const suggestion = suggestGates(history, {
      ...(firstStepPercent === undefined ? {} : { firstStepPercent }),
      ...(deployment.status.nodes.length > 0 ? { fleetNodes: deployment.status.nodes.length } : {}),
    });
    if (opts.output !== 'text') printData(suggestion, opts.output as 'json' | 'yaml');
    else if (suggestion.ok) process.stdout.write(`${renderSuggestion(suggestion)}\n`);
    if (suggestion.ok) return;
    process.stderr.write(`not enough latency history to suggest gates for ${name}:\n${suggestion.missing.map((m) => `  - ${m}\n`).join('')}`);
    throw new CommanderError(EXIT_NOT_ENOUGH_HISTORY, 'edgefleet.slo.notEnoughHistory', 'not enough latency history');
  });
}
