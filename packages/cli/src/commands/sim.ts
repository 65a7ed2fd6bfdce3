import { parseDuration } from '@edgefleet/protocol';
import type { SimFlags } from '@edgefleet/sim';
import type { Command } from 'commander';
import { FAST_FORWARD_DEPLOYMENT, type FastForwardSandbox, parseFastForward, startFastForwardSandbox } from './sim-fast-forward.js';
import { collect, untilSignalled } from './util.js';

/**
 * `edgefleet sim`: a simulated fleet of real agents against a server, over `--workers N`
 * child processes (default one per core; each runs every N-th node of one plan, and one
 * summary is merged from theirs). A worker that dies ends the run with an error naming it
 * (exit status non-zero); Ctrl-C stops every worker. `--fast-forward` runs in one process
 * (the server and the fleet share its clock). The
 * flags are checked (and the files read) before anything starts; then a summary line per
 * interval, the notable events as they happen, and a final JSON line at the end (Ctrl-C or
 * `--duration`).
 */
export function simCommand(program: Command): void {
  program
    .command('sim')
    .description('simulate a fleet: many real agents over worker processes, with simulated hardware, inference traffic and faults')
    .option('--server <url>', 'control plane URL, https://HOST:PORT (required unless --fast-forward)')
    .option(
      '--fast-forward <duration>',
      "live through this much simulated time first (e.g. 7d, about 5 minutes a week): an in-process server shares the fleet's fast clock, a signed release runs, and its latency history fills through the real uploads; then real time",
    )
    .option('--token-file <file>', 'file holding a bootstrap token with enough uses ("edgefleet token create --uses N")')
    .requiredOption('--nodes <n>', 'number of simulated nodes')
    .option('--sites <n>', 'sites site-01 … site-NN; nodes are spread evenly', '1')
    .option('--hat-mix <mix>', 'share per HAT: hailo8l, hailo8, hailo10h, coral-pcie, coral-usb, none (add up to 1)', 'hailo8l=0.6,hailo8=0.2,none=0.2')
    .option('--seed <n>', 'seed of every random choice (hats, latencies, faults)', '42')
    .option('--rps <n>', 'inference requests per second per node and deployment', '5')
    .option('--profile <profile>', 'telemetry profile of the nodes: lan (the default) or metered (the default with --fast-forward)')
    .option('--offline-rate <share>', 'share of nodes that drop off and come back at random (exponential periods: 5m online, 1m offline on average)')
    .option('--site-outage <SITE:DUR@AT>', 'cut a site off at AT for DUR, e.g. site-03:10m@2m (repeatable)', collect, [])
    .option('--faults <file>', 'fault plan (YAML): offline, siteOutages, links (latency, loss, bandwidth), acceleratorFailures, powerCuts')
    .option('--duration <duration>', 'stop after this long (default: until Ctrl-C)')
    .option('--interval <duration>', 'summary line interval', '10s')
    .option(
      '--data <dir>',
      'keep node data dirs here (default: a temp dir, in RAM under /dev/shm when there is one, removed at the end); a second run reuses the identities',
    )
    .option('--admin-token-file <file>', 'operator API token file: show rollout phases in the summary')
    .option('--enroll-concurrency <n>', 'agents enrolling at once (enrollment in waves)', '20')
    .option('--load-seconds <s>', 'model load time when a release does not say', '2')
    .option('--images <file>', 'container image table (YAML): sizes of layers, platforms, start time and crashes per image (default 50 MB, 5 MB per digest)')
    .option('--workers <n>', 'worker processes the nodes are spread over (default: one per core); --fast-forward runs in one process')
    .option('--force', 'start even when the memory estimate says this machine cannot hold the nodes')
    .action(async (flags: SimFlags & { fastForward?: string }) => {
      const { formatSummaryLine, formatElapsed, parseSimFlags, parseWorkers, startSimulation, startWorkerFleet } = await import('@edgefleet/sim');
      const out = (line: string): void => {
        process.stdout.write(`${line}\n`);
      };
      let sandbox: FastForwardSandbox | undefined;
      if (flags.fastForward !== undefined) {
        const ms = parseFastForward(flags.fastForward);
        sandbox = await startFastForwardSandbox({ ...flags, fastForward: flags.fastForward }, ms);
        out(
          `fast-forward: an in-process server at ${sandbox.server.url} on the fleet's clock (data: ${sandbox.server.adminTokenFile.replace(/\/server\/admin\.token$/, '')})`,
        );
      } else if (flags.server === undefined) {
        const { errors } = await import('@edgefleet/protocol');
        throw errors.config('--server is required', 'give the control plane URL, --server https://HOST:PORT, or --fast-forward 7d to run one in this process');
      }
      const workers = flags.workers === undefined ? undefined : parseWorkers(flags.workers);
      if (sandbox !== undefined && workers !== undefined && workers !== 1) {
        await sandbox.close();
        const { errors } = await import('@edgefleet/protocol');
        throw errors.config("--fast-forward runs the fleet in one process (it shares the server's clock)", 'leave out --workers', { field: 'workers' });
      }
      const options = sandbox?.options ?? parseSimFlags(flags);
      const clock = options.clock;
      // The fast-forward's server shares the fleet's clock, so its fleet runs here; otherwise over worker processes.
      const inProcess =
        sandbox === undefined
          ? undefined
          : await startSimulation(options).catch(async (err: unknown) => {
              await sandbox?.close();
              throw err;
            });
      const sim = inProcess ?? (await startWorkerFleet(options, workers === undefined ? {} : { workers }));
      const spread = 'workers' in sim ? ` over ${sim.workers.length} worker process(es)` : '';
      out(`simulating ${options.nodes} nodes in ${sim.sites.length} site(s)${spread} against ${options.server} (data: ${sim.dataDir})`);
      for (const w of sim.warnings) process.stderr.write(`warning: ${w}\n`);
      sim.onEvent((e) => {
        const at = `[${formatElapsed(e.elapsedMs / 1000)}]`;
        switch (e.type) {
          case 'summary':
            // While fast-forwarding, intervals fly by: the fast-forward prints a line a simulated day.
            if ((clock?.speed ?? 1) <= 1) out(formatSummaryLine(e.summary));
            break;
          case 'fleet-started':
            // On a fast clock the start slots run out before metered nodes first report: the fast-forward says when they do.
            if (clock !== undefined) break;
            out(`${at} fleet started: ${e.started}/${e.nodes} nodes in ${e.seconds.toFixed(1)} s${e.failed > 0 ? `, ${e.failed} failed` : ''}`);
            break;
          case 'node-failed':
            out(`${at} ${e.node} stopped: ${e.message}`);
            break;
          case 'site-outage':
            out(`${at} ${e.site} (${e.nodes} nodes) is ${e.on ? 'cut off from the server' : 'back online'}`);
            break;
          case 'accelerator-failed':
            out(`${at} ${e.node} lost its ${e.kind} accelerator`);
            break;
          case 'accelerator-restored':
            out(`${at} ${e.node} has its ${e.kind} accelerator back`);
            break;
          case 'power-cut':
            out(`${at} power cut on ${e.node} (during ${e.during}); back in ${Math.round(e.downtimeMs / 1000)} s`);
            break;
          case 'revision-serving':
            out(`${at} ${e.deployment} revision ${e.revision} serves for the first time (on ${e.node})`);
            break;
          case 'rollout':
            out(`${at} rollout ${e.deployment} → revision ${e.revision}: ${e.phase}, step ${e.step}/${e.steps}`);
            break;
          case 'annotation-problems':
            out(`${at} ${e.deployment} revision ${e.revision}: ${e.problems.join('; ')}`);
            break;
          default:
            break;
        }
      });
      // Thousands of agents share this process: one agent's unexpected error (a bug, a file it
      // could not write) is reported, not allowed to take the whole fleet down with it.
      let agentErrors = 0;
      const onAgentError = (err: unknown): void => {
        agentErrors++;
        if (agentErrors <= 10) process.stderr.write(`warning: an agent failed unexpectedly: ${(err as Error)?.stack ?? String(err)}\n`);
        if (agentErrors === 10) process.stderr.write('warning: further agent errors are counted, not printed\n');
      };
      // Kept until the process exits: agents still finishing a request after stop() are covered too.
      process.on('unhandledRejection', onAgentError);
      const stopped = new AbortController();
      let final: Awaited<typeof sim.finished>;
      try {
        final = await untilSignalled(
          () => {
            stopped.abort();
            // A worker's death surfaces through sim.finished.
            sim.stop().catch(() => {});
          },
          async () => {
            if (sandbox !== undefined) {
              try {
                await sandbox.run(inProcess as NonNullable<typeof inProcess>, out, stopped.signal);
                out(`caught up with the present: ${FAST_FORWARD_DEPLOYMENT} has ${flags.fastForward} of latency history. Try, in another terminal:`);
                out(`  edgefleet deployments latency ${FAST_FORWARD_DEPLOYMENT} --since ${flags.fastForward} ${sandbox.connection}`);
                out(`  edgefleet slo suggest ${FAST_FORWARD_DEPLOYMENT} --window ${flags.fastForward} ${sandbox.connection}`);
                out('the fleet goes on in real time until Ctrl-C');
                if (flags.duration !== undefined) setTimeout(() => void sim.stop(), parseDuration(flags.duration, 'duration')).unref();
              } catch (err) {
                if (!stopped.signal.aborted) {
                  await sim.stop();
                  throw err;
                }
              }
            }
            return sim.finished;
          },
        );
      } finally {
        await sandbox?.close();
      }
      out(JSON.stringify({ ...final, agentErrors: agentErrors + ((final as { agentErrors?: number }).agentErrors ?? 0) }));
    });
}
