import { createRequire } from 'node:module';
import { errors } from '@edgefleet/protocol';
import type * as Yaml from 'yaml';

/** yaml, loaded on first use: `edgefleet agent` runs for months without it (issue 6 footprint). */
const yaml = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

/** A table column: a header and how to get the cell from a row. Columns are data. */
export interface Column<T> {
  header: string;
  cell: (row: T) => string;
}

/** Renders rows as a plain, space-aligned table, the way kubectl does. */
export function renderTable<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => (i === values.length - 1 ? v : v.padEnd(widths[i] as number)))
      .join('   ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

type OutputFormat = 'table' | 'json' | 'yaml';

/** Checks `-o`; the allowed set differs per command. */
export function outputFormat(value: string | undefined, allowed: OutputFormat[], fallback: OutputFormat): OutputFormat {
  const v = (value ?? fallback) as OutputFormat;
  if (!allowed.includes(v)) {
    throw errors.config(`unknown output format "${value}"`, `use -o ${allowed.join(', -o ')}`);
  }
  return v;
}

/** Prints a value as JSON or YAML. */
export function printData(value: unknown, format: 'json' | 'yaml'): void {
  process.stdout.write(format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : yaml().stringify(value));
}

/** `12s ago`, `5m ago`, `3h ago`, `2d ago`; `never` for null. */
export function ago(iso: string | null, now = Date.now()): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172_800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86_400)}d ago`;
}
