/**
 * The child process of test/integration/unit-of-work.test.ts: opens the real store (SQLite
 * in DIR, or the PostgreSQL database at URL) and performs one audited change through its
 * real service (support/unit-of-work-ops.ts). With `kill` as the fourth argument, the
 * service's `afterChange` seam SIGKILLs this process inside the unit of work, after the
 * change and before its audit entry; otherwise it prints "done". What the operation seeded
 * is printed first, as a `seeded {json}` line (stdout to a pipe is synchronous on Linux).
 *
 *   node --conditions=edgefleet:source --import tsx unit-of-work-child.ts OP DIR sqlite|URL [kill]
 */
import { join } from 'node:path';
import { openStore } from '../../../packages/server/src/store/index.js';
import { contextsOver, OPERATIONS } from './unit-of-work-ops.js';

const [op, dir, where, mode] = process.argv.slice(2);
if (op === undefined || dir === undefined || where === undefined) throw new Error('usage: unit-of-work-child.ts OP DIR sqlite|URL [kill]');
const operation = OPERATIONS[op];
if (operation === undefined) throw new Error(`unknown operation ${op}`);

const store = where === 'sqlite' ? await openStore('', join(dir, 'edgefleet.db')) : await openStore(where, '');
const contexts = await contextsOver(store, dir, mode === 'kill');
await operation.run(contexts, (seeded) => void process.stdout.write(`seeded ${JSON.stringify(seeded)}\n`));
await store.close();
process.stdout.write('done\n');
