import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type KeyRevocation, type TrustedKey, TrustedKeySchema } from '@edgefleet/protocol';
import { parsePublicKey, writeFileDurable } from '@edgefleet/protocol/node';
import type { ParsedKey } from './verify-release.js';

/**
 * Release keys this node trusts, with their signed expiry and, once revoked, the revocation.
 * The first set comes with enrollment; a key the server hands out later is pinned only when
 * a key already pinned endorsed it, and a revocation is kept for good. So a server that is
 * taken over can add no key of its own, can't take a revocation back, and cannot make this
 * node run a release that no trusted key signed. What to pin is decided in
 * sync/verify-release.ts; this class keeps it on disk.
 */
export class PinnedKeys {
  private readonly keys = new Map<string, ParsedKey>();
  private readonly path: string;

  constructor(dataDir: string) {
    this.path = join(dataDir, 'release-keys.json');
    if (existsSync(this.path)) {
      // A pin file that cannot be read stops the agent: starting empty would pin whatever
      // root keys the server offers next (trust on first use), which is what pinning prevents.
      try {
        const parsed = TrustedKeySchema.array().safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new Error(`${issue?.path.length ? `entry ${issue.path.join('.')}: ` : ''}${issue?.message ?? 'not a list of keys'}`);
        }
        for (const record of parsed.data) this.keys.set(record.keyId, { key: parsePublicKey(record.publicKey), record });
      } catch (err) {
        throw new Error(
          `the pinned release keys in ${this.path} cannot be read (${(err as Error).message.split('\n')[0]}): restore the file from a backup, or delete it and re-enroll the node`,
        );
      }
    }
  }

  get size(): number {
    return this.keys.size;
  }

  /** The pinned keys by id, revoked ones included (their records say so). */
  map(): Map<string, ParsedKey> {
    return new Map(this.keys);
  }

  /** Pins keys as they are: the caller decided to trust them (see sync/verify-release.ts). */
  pin(keys: readonly (ParsedKey | TrustedKey)[]): void {
    for (const k of keys) {
      const record = 'record' in k ? k.record : k;
      // A key pinned once keeps its first record (its expiry as first endorsed) and any revocation.
      const old = this.keys.get(record.keyId);
      if (old !== undefined) continue;
      this.keys.set(record.keyId, { key: parsePublicKey(record.publicKey), record });
    }
    this.save();
  }

  /** Keeps verified revocations of pinned keys, for good. */
  revoke(revocations: readonly { keyId: string; revocation: KeyRevocation }[]): void {
    let changed = false;
    for (const { keyId, revocation } of revocations) {
      const k = this.keys.get(keyId);
      if (k === undefined || k.record.revocation !== null) continue;
      this.keys.set(keyId, { ...k, record: { ...k.record, revocation } });
      changed = true;
    }
    if (changed) this.save();
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    // Durable: a pin file left empty by a power cut would stop the agent (see the constructor).
    writeFileDurable(
      this.path,
      JSON.stringify(
        [...this.keys.values()].map((k) => k.record),
        null,
        2,
      ),
      0o600,
    );
  }
}
