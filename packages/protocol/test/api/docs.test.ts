import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { renderApiDocs, renderShape } from '../../src/api/docs.js';
import { routeList } from '../../src/api/routes.js';

describe('docs/API.md', () => {
  it('is what `npm run docs:api` writes from the route table (run it after changing the table)', () => {
    const committed = readFileSync(resolve(import.meta.dirname, '../../../../docs/API.md'), 'utf8');
    expect(committed === renderApiDocs(), 'docs/API.md is stale: run "npm run docs:api" and commit the result').toBe(true);
  });

  it('lists every route of the table', () => {
    const docs = renderApiDocs();
    for (const r of routeList()) expect(docs).toContain(`#### \`${r.method} ${r.path}\` (\`${r.name}\`)`);
  });

  it('renders shapes readably: optional, nullable, defaults, enums, arrays, records', () => {
    const shape = z.object({
      a: z.string().optional(),
      b: z.number().nullable(),
      c: z.enum(['x', 'y']).default('x'),
      d: z.array(z.object({ e: z.boolean() })),
      f: z.record(z.string(), z.string()),
    });
    expect(renderShape(shape)).toBe(
      '{\n  a?: string\n  b: number | null\n  c?: "x" | "y" (default "x")\n  d: { e: boolean }[]\n  f: { [key: string]: string }\n}',
    );
    expect(renderShape(z.object({ a: z.string() }))).toBe('{ a: string }');
  });
});
