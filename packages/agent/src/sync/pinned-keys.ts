import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type TrustedKey, TrustedKeySchema } from '@edgefleet/protocol';
import { parsePublicKey, writeFileDurable } from '@edgefleet/protocol/node';
import { endorsedKeys } from './verify-release.js';

/**
 * Release keys this node trusts. The first set comes with enrollment and is pinned; a key
 * the server hands out later is pinned only when a key already pinned endorsed it. So a
 * server that is taken over can add no key of its own, and cannot make this node run a
 * release that no trusted key signed.
 */
export class PinnedKeys {
  private readonly keys = new Map<string, { key: KeyObject; record: TrustedKey }>();
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

  map(): Map<string, KeyObject> {
    return new Map([...this.keys].map(([id, k]) => [id, k.key]));
  }

  /** Pins keys given at enrollment, as they are. */
  pinInitial(records: readonly TrustedKey[]): void {
    this.pin(records);
  }

  /** Pins keys as they are: the caller decided to trust them (see sync/verify-release.ts). */
  pin(records: readonly TrustedKey[]): void {
    for (const r of records) this.keys.set(r.keyId, { key: parsePublicKey(r.publicKey), record: r });
    this.save();
  }

  /** Pins the keys endorsed by an already pinned key (following chains); returns the ids refused. */
  acceptEndorsed(records: readonly TrustedKey[]): string[] {
    const { endorsed, refused } = endorsedKeys(this.map(), records);
    for (const k of endorsed) this.keys.set(k.record.keyId, k);
    this.save();
    return refused.map((r) => r.keyId);
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
