import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';

/**
 * The agent's logger: its lines go to stdout (or to the logger the caller gave) and, from
 * info up, to `toPipeline`: the node's log pipeline, scrubbed and queued for upload like a
 * workload's.
 */
export function agentLogger(given: Logger | undefined, toPipeline: (line: string) => void): Logger {
  const pipeline = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') toPipeline(line);
      done();
    },
  });
  const level = process.env.EDGEFLEET_LOG_LEVEL ?? 'info';
  if (given === undefined) {
    return pino(
      { level, base: { component: 'agent' } },
      pino.multistream([
        { level: level as pino.Level, stream: process.stdout },
        { level: 'info', stream: pipeline },
      ]),
    );
  }
  // A caller's logger keeps its own destination; the pipeline gets a copy of each line.
  return pino(
    {
      level: 'info',
      base: { component: 'agent' },
      hooks: {
        logMethod(args, method, num) {
          const label = pino.levels.labels[num] as pino.Level | undefined;
          if (label !== undefined) (given[label] as (...a: unknown[]) => void).apply(given, args);
          method.apply(this, args);
        },
      },
    },
    pipeline,
  );
}
