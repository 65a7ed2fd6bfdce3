import type { LogEntry } from '@edgefleet/protocol';

/**
 * The level of a workload's log line, so the sampler knows what it may thin out. Workloads
 * write whatever they like; in order:
 * 1. a JSON object line with `level`, `lvl`, `severity`, `levelname`, `loglevel` or `log.level`:
 *    names (`warning`, `ERROR`, `crit`, …) and numbers — pino's scale for `level`/`lvl`
 *    (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal), syslog's 0–7 for `severity`;
 * 2. the first level word in the line: an upper-case token anywhere (`[INFO]`, `WARNING:root:`,
 *    `… ERROR …`), or any case where it is written as a level (`level=warn`, `[error]`,
 *    `<warn>`, `error:` at the start);
 * 3. a Python traceback header or an exception class name (`ValueError`, `RuntimeException`) → error;
 * 4. otherwise `info`, on stdout and on stderr alike.
 *
 * Why stderr defaults to info rather than warn: a great deal of routine output goes to
 * stderr — Python's logging and uvicorn write everything there, so do progress bars and most
 * CLIs' chatter. Calling it all warn would be false, and it would exempt exactly the
 * chattiest streams from sampling. A real warning nearly always says so, and is caught by 2–3.
 *
 * Multi-line errors: `StreamLevels` remembers the level of the last line of a stream, so the
 * indented frames of a traceback (`  File "…", line 3`, `\tat com.…`) and its `Caused by:` /
 * `During handling …` lines stay errors and are never sampled away half-way through.
 */

export type LogLevel = LogEntry['level'];

const NAMES: Record<string, LogLevel> = {
  trace: 'debug',
  debug: 'debug',
  dbg: 'debug',
  verbose: 'debug',
  info: 'info',
  information: 'info',
  informational: 'info',
  notice: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
  err: 'error',
  crit: 'error',
  critical: 'error',
  fatal: 'error',
  panic: 'error',
  emerg: 'error',
  emergency: 'error',
  alert: 'error',
  severe: 'error',
};

/** pino (and bunyan) numbers: 10 trace, 20 debug, 30 info, 40 warn, 50 error, 60 fatal. */
function pinoLevel(n: number): LogLevel | undefined {
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  if (n >= 30) return 'info';
  if (n >= 10) return 'debug';
  return undefined;
}

/** syslog severities: 0 emerg … 3 err, 4 warning, 5 notice, 6 info, 7 debug. */
function syslogLevel(n: number): LogLevel | undefined {
  if (!Number.isInteger(n) || n < 0 || n > 7) return undefined;
  return n <= 3 ? 'error' : n === 4 ? 'warn' : n === 7 ? 'debug' : 'info';
}

/** A level field's value (`"WARN"`, `40`, `"3"` …) as one of ours; `numbers` says which numeric scale the field uses. */
export function levelFromValue(value: unknown, numbers: 'pino' | 'syslog' = 'pino'): LogLevel | undefined {
  if (typeof value === 'number') return numbers === 'pino' ? pinoLevel(value) : syslogLevel(value);
  if (typeof value !== 'string') return undefined;
  const name = NAMES[value.trim().toLowerCase()];
  if (name !== undefined) return name;
  return /^\d+$/.test(value.trim()) ? levelFromValue(Number(value), numbers) : undefined;
}

const JSON_LEVEL_KEYS: [string, 'pino' | 'syslog'][] = [
  ['level', 'pino'],
  ['lvl', 'pino'],
  ['severity', 'syslog'],
  ['levelname', 'pino'],
  ['loglevel', 'pino'],
  ['log.level', 'pino'],
];

function jsonLevel(line: string): LogLevel | undefined {
  const t = line.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  let obj: unknown;
  try {
    obj = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (typeof obj !== 'object' || obj === null) return undefined;
  const record = obj as Record<string, unknown>;
  for (const [key, scale] of JSON_LEVEL_KEYS) {
    const level = levelFromValue(record[key] ?? record[key.toUpperCase()], scale);
    if (level !== undefined) return level;
  }
  const log = record.log;
  if (typeof log === 'object' && log !== null) return levelFromValue((log as Record<string, unknown>).level);
  return undefined;
}

/** Upper-case level tokens, anywhere in the line. */
const UPPER_TOKEN = /\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRIT|CRITICAL|FATAL|PANIC|SEVERE|EMERG|ALERT)\b/;
/** Any case, where the word is written as a level: `level=warn`, `[error]`, `<warn>`, `"lvl":"info"`, `error:` first. */
const WRITTEN_LEVEL =
  /(?:\b(?:level|lvl|severity|loglevel)["']?[ \t]{0,3}[=:][ \t]{0,3}["']?|\[|<|^\s{0,8})(trace|debug|info|notice|warn|warning|error|err|crit|critical|fatal|panic|emerg|alert)(?=[\]>:"'\s,]|$)/i;
const TRACEBACK = /^Traceback \(most recent call last\)|\b(?:[A-Z][A-Za-z0-9_]*)?(?:Exception|Error)\b/;

/** The level the line states, or undefined when it states none. */
function statedLevel(line: string): LogLevel | undefined {
  const fromJson = jsonLevel(line);
  if (fromJson !== undefined) return fromJson;
  const upper = UPPER_TOKEN.exec(line);
  const written = WRITTEN_LEVEL.exec(line);
  const first = upper === null ? written : written === null ? upper : written.index < upper.index ? written : upper;
  if (first !== null) return NAMES[(first[1] as string).toLowerCase()];
  return TRACEBACK.test(line) ? 'error' : undefined;
}

/** The level of a single line on its own: what it states, else `info` (see the module comment for why stderr is not `warn`). */
export function detectLevel(line: string): LogLevel {
  return statedLevel(line) ?? 'info';
}

/** Lines that continue the previous line's message: traceback frames, `Caused by:`, chained exceptions. */
const CONTINUATION = /^(?:\s|Caused by:|During handling of the above exception|The above exception was the direct cause|\.\.\. \d+ more)/;

/** Level detection for one stream, carrying a warning's or error's level over its continuation lines. */
export class StreamLevels {
  private last: LogLevel = 'info';

  /** The level of the next line of this stream. */
  detect(line: string): LogLevel {
    const stated = statedLevel(line);
    const level = stated ?? ((this.last === 'error' || this.last === 'warn') && CONTINUATION.test(line) ? this.last : 'info');
    this.last = level;
    return level;
  }
}
