import type { KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { TrustedKey } from '@edgefleet/protocol';
import { endorsementValid, parsePublicKey } from '@edgefleet/protocol/node';

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
      for (const record of JSON.parse(readFileSync(this.path, 'utf8')) as TrustedKey[])
        this.keys.set(record.keyId, { key: parsePublicKey(record.publicKey), record });
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
    for (const r of records) this.keys.set(r.keyId, { key: parsePublicKey(r.publicKey), record: r });
    this.save();
  }

  /** Pins the keys endorsed by an already pinned key (following chains); returns the ids refused. */
  acceptEndorsed(records: readonly TrustedKey[]): string[] {
    let added = true;
    const pending = records.filter((r) => !this.keys.has(r.keyId));
    while (added) {
      added = false;
      for (const r of [...pending]) {
        const signer = r.signedBy === null ? undefined : this.keys.get(r.signedBy);
        if (signer === undefined || r.signature === null) continue;
        const key = parsePublicKey(r.publicKey);
        if (!endorsementValid(key, signer.key, r.signature)) continue;
        this.keys.set(r.keyId, { key, record: r });
        pending.splice(pending.indexOf(r), 1);
        added = true;
      }
    }
    this.save();
    return pending.map((r) => r.keyId);
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp`;
    writeFileSync(
      tmp,
      JSON.stringify(
        [...this.keys.values()].map((k) => k.record),
        null,
        2,
      ),
    );
    renameSync(tmp, this.path);
  }
}
