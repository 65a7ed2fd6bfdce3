import { Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import type { LogCollector } from './collector.js';

/**
 * The bridge from the agent's pino logger to its log collector, so the agent's own lines are
 * shipped (scrubbed and sampled like any workload's) as well as printed. Use it as the
 * destination — `pino(opts, logCollectorDestination(collector, process.stdout))` — or as one
 * stream of `pino.multistream([{ stream: process.stdout }, { stream: logCollectorDestination(collector) }])`,
 * where it must not pass lines on (stdout is already in the list).
 *
 * pino writes each line (JSON and `\n`) with one synchronous `write`; the stream still keeps
 * a partial line across writes, should anything split one.
 */

/**
 * A writable stream that feeds every line written to it to `collector.agentLine`, and writes
 * it unchanged to `alsoTo` when given (the terminal or journald keep the unscrubbed line:
 * they stay on the node).
 */
export function logCollectorDestination(collector: LogCollector, alsoTo?: NodeJS.WritableStream): Writable {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  const take = (text: string): void => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line !== '') collector.agentLine(line);
  };
  return new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, callback) {
      take(typeof chunk === 'string' ? chunk : decoder.write(chunk));
      alsoTo?.write(chunk);
      callback();
    },
    final(callback) {
      take(decoder.end());
      if (partial !== '') collector.agentLine(partial);
      partial = '';
      callback();
    },
  });
}
