// A worker thread's entry that can run TypeScript: a worker does not inherit the main
// thread's `--import tsx` loader, so it registers tsx itself, then loads `workerData.entry`.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
