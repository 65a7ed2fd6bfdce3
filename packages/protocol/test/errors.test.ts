import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EdgefleetError, ERROR_CODES, errors, isErrorCode, retryClassOf } from '../src/errors.js';

const PACKAGES = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sources(path);
    return /\.tsx?$/.test(e.name) ? [path] : [];
  });
}

describe('the error table', () => {
  it('takes the status from the table unless one is given', () => {
    expect(new EdgefleetError({ code: 'not_found', message: 'm', hint: 'h' }).status).toBe(404);
    expect(errors.noRollout('m', 'h')).toMatchObject({ code: 'no_rollout', status: 409, message: 'm', hint: 'h' });
    expect(errors.badRequest('m', 'h', { field: 'name' }).toBody()).toEqual({ error: { code: 'bad_request', message: 'm', hint: 'h', field: 'name' } });
  });

  it('has one constructor per code, each making its own code', () => {
    const made = Object.values(errors).map((make) => make('m', 'h').code);
    expect(made.sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it('classes retries: transient, wait, terminal; anything unknown is transient', () => {
    expect(retryClassOf(errors.unreachable('m', 'h'))).toBe('transient');
    expect(retryClassOf(errors.sourceNotReady('m', 'h'))).toBe('wait');
    expect(retryClassOf(errors.tokenExpired('m', 'h'))).toBe('terminal');
    expect(retryClassOf(new Error('boom'))).toBe('transient');
  });

  it('covers every code any package uses, also in hand-written error bodies', () => {
    const used = new Set<string>();
    for (const file of sources(PACKAGES).filter((f) => f.includes('/src/'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/\bcode: '([a-z_]+)'/g)) used.add(m[1] as string);
      // The per-code constructors: errors.notFound(…) is not_found.
      for (const m of text.matchAll(/\berrors\.([a-z][A-Za-z]*)\(/g)) used.add((m[1] as string).replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
    }
    used.delete('custom'); // zod's issue code, not ours
    expect(used.size).toBeGreaterThan(20);
    expect([...used].filter((c) => !isErrorCode(c))).toEqual([]);
  });

  it('takes every status from the table: no source pairs a code with a literal status by hand', () => {
    // A status is given only where it comes from the wire (the API client rebuilding an
    // answer: `status: res.status`); a route that answers another status (Fastify's 414) sets
    // it on the reply, since the body carries no status.
    const handPaired: string[] = [];
    for (const file of sources(PACKAGES).filter((f) => f.includes('/src/'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new EdgefleetError\(\{[^}]*?\bstatus: (\d+)/g)) {
        const line = text.slice(0, m.index).split('\n').length;
        handPaired.push(`${file.slice(PACKAGES.length + 1)}:${line} (status ${m[1]})`);
      }
    }
    expect(handPaired).toEqual([]);
  });
});
