import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DesiredState, DesiredStateSchema } from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';

/** The last desired state, kept on disk so the node keeps serving it through server outages and reboots. */
export function loadDesired(dataDir: string): DesiredState | undefined {
  const path = join(dataDir, 'desired.json');
  if (!existsSync(path)) return undefined;
  // An unreadable file (a power cut on a filesystem that lost it) counts as absent: the
  // next long poll fetches the desired state again.
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const parsed = DesiredStateSchema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

/** Keeps the desired state on disk (fsynced: it must survive the power cut that follows). */
export function saveDesired(dataDir: string, state: DesiredState): void {
  writeFileDurable(join(dataDir, 'desired.json'), JSON.stringify(state), 0o600);
}
