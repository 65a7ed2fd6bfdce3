/**
 * The model server as a child process of the agent (see `modelServerEntry()`). Configured by
 * the environment (`modelServerEnv()`), it logs one JSON line per event to stdout.
 *
 * Exit codes: 0 after SIGTERM/SIGINT and a graceful close; 1 when the model cannot be loaded
 * or the server fails; 2 when the environment is incomplete. Failures also say why on stderr,
 * one line, so the agent can put it in the Deployment's status.
 */
import { pino } from 'pino';
import { modelServerConfigFromEnv } from './entry.js';
import { type RunningModelServer, startModelServer } from './server.js';

function fail(code: number, message: string): never {
  process.stderr.write(`edgefleet model server: ${message}\n`);
  process.exit(code);
}

const parsed = modelServerConfigFromEnv(process.env);
if (!parsed.ok) fail(2, parsed.error);
const { config } = parsed;
const log = pino({ base: { component: 'model-server', pid: process.pid } });

let running: RunningModelServer | undefined;
let stopping = false;

async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ event: 'signal', signal }, `${signal}: closing`);
  // A signal during model loading: nothing is serving yet, so there is nothing to drain.
  await running?.close();
  process.exit(0);
}

process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));

try {
  running = await startModelServer({ ...config, log });
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  log.error({ event: 'load_failed', path: config.modelPath, error: message }, 'cannot start');
  fail(1, `cannot serve model '${config.modelName}' from ${config.modelPath}: ${message}`);
}
