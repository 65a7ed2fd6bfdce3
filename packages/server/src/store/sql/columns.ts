/**
 * Column conversions: PostgreSQL returns `bigint` columns as strings (SQLite as numbers),
 * and every time is such a column.
 */
export const num = (v: number | string): number => (typeof v === 'number' ? v : Number(v));

/** {@link num} for a nullable column. */
export const numOrNull = (v: number | string | null): number | null => (v === null ? null : num(v));
