#!/usr/bin/env node
// The `edgefleet` command. The TypeScript sources are compiled to dist/ by `npm ci`
// (the root "prepare" script runs `tsc -b`).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv);
