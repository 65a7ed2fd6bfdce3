/**
 * A container registry as stored: its address, the CA that signs its TLS certificate and
 * pull credentials. The password is kept sealed (registries/secret-box.ts), never in clear.
 */
export interface RegistryRecord {
  name: string;
  /** `https://HOST[:PORT]`, canonical (see parseRegistryServer). */
  server: string;
  /** `HOST[:PORT]`, unique across registries: one image host, one set of credentials. */
  host: string;
  username: string | null;
  /** `v1:<iv>:<tag>:<ciphertext>` (base64), or null when the registry needs no password. */
  passwordSealed: string | null;
  caPem: string | null;
  createdAt: number;
  updatedAt: number;
}

/** Container registries by name. Every write moves the desired-state inputs' mark (nodes get registries with their desired state). */
export interface RegistryRepository {
  /**
   * Inserts the registry, or replaces every field of the one with its name (keeping its
   * `createdAt`); answers whether it replaced one. A host taken by another registry fails
   * with a unique violation on `host`.
   */
  putRegistry(record: RegistryRecord): Promise<{ replaced: boolean }>;
  getRegistry(name: string): Promise<RegistryRecord | undefined>;
  /** Every registry, by name. */
  listRegistries(): Promise<RegistryRecord[]>;
  /** Deletes the registry; false when there was none. */
  deleteRegistry(name: string): Promise<boolean>;
}
