import { type ParseArgsConfig, parseArgs } from 'node:util';

/**
 * A bench's flags: `node:util` parseArgs, plus `--help`; a mistyped or unknown flag ends
 * with what was wrong and the usage (exit 2) instead of a stack trace. A bench that runs
 * for an hour must not start on flags it cannot read.
 */
export function benchArgs<const O extends NonNullable<ParseArgsConfig['options']>>(
  usage: string,
  options: O,
): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    console.log(`usage: ${usage}`);
    process.exit(0);
  }
  try {
    return parseArgs({ options }).values;
  } catch (err) {
    console.error(`${(err as Error).message.split('\n')[0]}\n\nusage: ${usage}\n`);
    process.exit(2);
  }
}

/** A whole-number flag's value (`fallback` when absent); a bad one ends the bench with what is wrong. */
export function wholeFlag(name: string, text: string | undefined, fallback: number, min = 1): number {
  const v = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name} must be a whole number of at least ${min}, got "${text}"`);
    process.exit(2);
  }
  return v;
}
