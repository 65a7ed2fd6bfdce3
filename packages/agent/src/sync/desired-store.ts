import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type DesiredState, DesiredStateSchema } from '@edgefleet/protocol';

/** The last desired state, kept on disk so the node keeps serving it through server outages and reboots. */
export function loadDesired(dataDir: string): DesiredState | undefined {
  const path = join(dataDir, 'desired.json');
  if (!existsSync(path)) return undefined;
  const parsed = DesiredStateSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data : undefined;
}

export function saveDesired(dataDir: string, state: DesiredState): void {
  const path = join(dataDir, 'desired.json');
  writeFileSync(`${path}.tmp`, JSON.stringify(state));
  renameSync(`${path}.tmp`, path);
}
