/**
 * One worker process of `edgefleet sim --workers N` (forked by workers.ts): runs its share
 * of the fleet (options.shard) with its own heap and event loop, forwards the simulation's
 * events to the parent, and answers `stop` with its final summary. It never stops on a
 * signal of its own: Ctrl-C reaches the whole process group, and the parent decides (it
 * sends `stop`). When the parent is gone (the IPC channel closed), it stops and exits.
 */
import type { SimulationEvent } from './events.js';
import { RequestTimer } from './request-timer.js';
import type { Simulation } from './simulation.js';
import { startSimulation } from './simulation.js';
import type { ParentMessage, WorkerMessage } from './workers.js';

const send = (m: WorkerMessage, then?: () => void): void => {
  if (process.connected) process.send?.(m, undefined, {}, () => then?.());
  else then?.();
};

if (process.send === undefined) {
  process.stderr.write('this is a worker of "edgefleet sim --workers N": it runs only as a child process of edgefleet sim\n');
  process.exit(2);
}

let sim: Simulation | undefined;
let timer: RequestTimer | undefined;
let stopRequested = false;
let agentErrors = 0;

process.on('SIGINT', () => {});
process.on('uncaughtException', (err) => {
  send({ type: 'fatal', message: err.stack ?? String(err) }, () => process.exit(1));
});
// Thousands of agents share this process: one agent's unexpected error is reported, not fatal (as in one process).
process.on('unhandledRejection', (err) => {
  agentErrors++;
  if (agentErrors <= 10) process.stderr.write(`warning: an agent failed unexpectedly: ${(err as Error)?.stack ?? String(err)}\n`);
});

const stop = (): void => {
  stopRequested = true;
  if (sim === undefined) process.exit(0);
  else void sim.stop();
};
process.on('disconnect', stop);

process.on('message', (raw) => {
  const m = raw as ParentMessage;
  switch (m.type) {
    case 'start':
      void begin(m);
      break;
    case 'stop':
      stop();
      break;
    case 'site-outage':
      sim?.setSiteOutage(m.site, m.on);
      break;
    default:
      break;
  }
});

async function begin(m: Extract<ParentMessage, { type: 'start' }>): Promise<void> {
  if (m.measureRequests) {
    timer = new RequestTimer();
    timer.start();
  }
  try {
    sim = await startSimulation({ ...m.options, shard: m.shard, force: true });
  } catch (err) {
    send({ type: 'fatal', message: (err as Error).message }, () => process.exit(1));
    return;
  }
  const running = sim;
  running.onEvent((event: SimulationEvent) => send({ type: 'event', event }));
  send({ type: 'started', nodes: running.nodes.length, warnings: [...running.warnings] });
  void running.finished.then((summary) => {
    timer?.stop();
    send({ type: 'final', summary, agentErrors, ...(timer === undefined ? {} : { requests: timer.samples() }) }, () => process.exit(0));
  });
  if (stopRequested) void running.stop();
}
