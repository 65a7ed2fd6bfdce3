/**
 * Fleet-wide settings kept in the database, so every replica sees the same (for example
 * `requireSigned`): one text value per key.
 */
export interface MetaRepository {
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Sets `key` only when it has no value yet; returns the value that is stored after. */
  setMetaIfAbsent(key: string, value: string): Promise<string>;
}
