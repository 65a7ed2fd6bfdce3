/** @edgefleet/cli: the `edgefleet` command. */
export { buildProgram, main } from './main.js';
