/**
 * A numeric column as a number: pg returns `bigint` columns (every time is one) as
 * strings, better-sqlite3 returns numbers.
 */
export const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/** {@link num} for a nullable column. */
export const numOrNull = (v: number | string | null): number | null => (v === null ? null : num(v));
