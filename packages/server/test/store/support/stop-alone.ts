/**
 * Child of checkpointer-stop.integration.test.ts: opens a SQLite store (its migrations write;
 * its checkpointer starts), closes it with nothing else keeping the process alive — as
 * `edgefleet server` does after SIGTERM — and says `closed` once close() has resolved.
 */
import { openStore } from '../../../src/store/index.js';

const store = await openStore('', process.argv[2] as string);
await store.close();
process.stdout.write('closed\n');
