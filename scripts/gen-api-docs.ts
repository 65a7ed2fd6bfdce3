/**
 * `npm run docs:api`: writes docs/API.md from the route table
 * (packages/protocol/src/api/docs.ts renders it). packages/protocol/test/api/docs.test.ts
 * fails when the committed file is not what this writes.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderApiDocs } from '../packages/protocol/src/api/docs.js';

const target = resolve(import.meta.dirname, '../docs/API.md');
writeFileSync(target, renderApiDocs());
console.log(`wrote ${target}`);
