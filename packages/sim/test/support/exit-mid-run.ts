/**
 * A process that makes a simulation's scratch folder, fills it, prints its path and exits
 * without stopping anything (as a bench does on Ctrl-C): scratch-dir.integration.test.ts.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { temporaryScratchDir } from '../../src/simulation.js';

const scratch = temporaryScratchDir();
writeFileSync(join(scratch.path, 'node-state.json'), '{}');
console.log(scratch.path);
process.exit(130);
