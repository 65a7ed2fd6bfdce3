/** @edgefleet/server: the control plane. */
export type { Clock } from './clock.js';
export { createServerLogger } from './log.js';
export { guardProcess } from './process-guard.js';
export { parseListen, type RunningServer, type ServerOptions, startServer } from './server.js';
export { openStore, type Store } from './store/index.js';
