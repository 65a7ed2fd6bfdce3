import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from '@edgefleet/protocol/node';
import { z } from 'zod';

/** How many accepted releases are kept per deployment: the rollbacks a node allows without re-signing. */
const KEPT_PER_DEPLOYMENT = 20;

const EntrySchema = z.object({ signedAt: z.string(), value: z.string(), keyId: z.string() });
const FileSchema = z.object({ version: z.literal(1), deployments: z.record(z.string(), z.array(EntrySchema)) });
type Entry = z.infer<typeof EntrySchema>;

/**
 * The signed releases this node accepted, per deployment (release-history.json): they set
 * the floor below which a release is a downgrade ({@link ReleaseHistory.floor}), and their
 * signatures are the releases an operator may roll back to without signing again. Kept on
 * disk so a restart or a power cut does not lower the floor. Without a data folder it lives
 * in memory only (tests).
 */
export class ReleaseHistory {
  private readonly deployments = new Map<string, Entry[]>();
  private readonly path: string | undefined;

  constructor(dataDir?: string) {
    this.path = dataDir === undefined ? undefined : join(dataDir, 'release-history.json');
    if (this.path === undefined || !existsSync(this.path)) return;
    // An unreadable history stops the agent: starting empty would drop the floor, which is
    // exactly what a downgrade needs.
    try {
      const parsed = FileSchema.safeParse(JSON.parse(readFileSync(this.path, 'utf8')));
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'not a release history');
      for (const [name, entries] of Object.entries(parsed.data.deployments)) this.deployments.set(name, entries);
    } catch (err) {
      throw new Error(
        `the release history in ${this.path} cannot be read (${(err as Error).message.split('\n')[0]}): restore it from a backup, or delete it (the node then accepts any release its keys signed, older ones included)`,
      );
    }
  }

  /** Whether this node accepted the release with this signature for `deployment` before. */
  accepted(deployment: string, signatureValue: string): boolean {
    return this.deployments.get(deployment)?.some((e) => e.value === signatureValue) ?? false;
  }

  /**
   * The oldest signing time a release of `deployment` may have without having run here: that
   * of the release accepted before the newest one (the newest's, when only one was). So a
   * rollback goes back at most one step of this node's history: to its previous release, or
   * to one the deployment ran meanwhile (a node that skipped revision 2, going from 1 to a
   * bad 3, is rolled back to 2), never to anything older.
   */
  floor(deployment: string): string | undefined {
    const times = (this.deployments.get(deployment) ?? []).map((e) => e.signedAt).sort();
    return times.length === 0 ? undefined : times[Math.max(0, times.length - 2)];
  }

  /**
   * Records accepted signed releases; saves when anything is new. The oldest entries go first
   * beyond the bound; the newest two, which set the floor, always stay.
   */
  record(entries: readonly { deployment: string; signedAt: string; value: string; keyId: string }[]): void {
    let changed = false;
    for (const { deployment, ...entry } of entries) {
      if (this.accepted(deployment, entry.value)) continue;
      const list = [...(this.deployments.get(deployment) ?? []), entry].sort((a, b) => (a.signedAt < b.signedAt ? -1 : a.signedAt > b.signedAt ? 1 : 0));
      this.deployments.set(deployment, list.slice(-KEPT_PER_DEPLOYMENT));
      changed = true;
    }
    if (changed && this.path !== undefined) {
      writeFileDurable(this.path, JSON.stringify({ version: 1, deployments: Object.fromEntries(this.deployments) }), 0o600);
    }
  }
}
