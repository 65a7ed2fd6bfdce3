import { describe, expect, it } from 'vitest';
import { initialSourceStatus, isDue, isStalled, type PassOutcome, shouldApply, statusAfter } from '../../src/gitops/status.js';
import type { SourceStatusRecord } from '../../src/store/index.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);

/** Conditions as `Type=Status/Reason`, the way the tables read. */
const brief = (s: SourceStatusRecord): string[] => s.conditions.map((c) => `${c.type}=${c.status}/${c.reason}`);

const applied = (head: string): PassOutcome => ({ kind: 'applied', head, message: `applied commit ${head}` });
const stalled = (head: string): PassOutcome => ({ kind: 'stalled', head, reason: 'InvalidManifest', message: 'fleet/a.yaml:3: YAML syntax error' });
const unavailable: PassOutcome = { kind: 'unavailable', message: 'branch main not found in /srv/fleet' };

/** Runs outcomes in order from a fresh source, as passes would. */
function after(...outcomes: PassOutcome[]): SourceStatusRecord {
  return outcomes.reduce((s, o, i) => statusAfter(s, o, 1000 * (i + 1)), initialSourceStatus());
}

describe('whether a pass applies the head', () => {
  const cases: Array<{ name: string; status: SourceStatusRecord; head: string; forced: boolean; apply: boolean }> = [
    { name: 'first poll', status: initialSourceStatus(), head: A, forced: false, apply: true },
    { name: 'head already applied', status: after(applied(A)), head: A, forced: false, apply: false },
    { name: 'head already applied, forced', status: after(applied(A)), head: A, forced: true, apply: false },
    { name: 'new commit', status: after(applied(A)), head: B, forced: false, apply: true },
    { name: 'refused head', status: after(applied(A), stalled(B)), head: B, forced: false, apply: false },
    { name: 'refused head, forced sync', status: after(applied(A), stalled(B)), head: B, forced: true, apply: true },
    { name: 'new commit after a refused one', status: after(applied(A), stalled(B)), head: C, forced: false, apply: true },
    { name: 'branch reset to the applied commit', status: after(applied(A), stalled(B)), head: A, forced: false, apply: true },
    {
      name: 'transient failure is retried',
      status: after(applied(A), { kind: 'retrying', head: B, message: 'database unreachable' }),
      head: B,
      forced: false,
      apply: true,
    },
    { name: 'unreadable, then readable at the applied head', status: after(applied(A), unavailable), head: A, forced: false, apply: false },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(shouldApply(c.status, c.head, c.forced)).toBe(c.apply);
    });
  }
});

describe('the status a pass writes', () => {
  it('starts Progressing', () => {
    expect(brief(initialSourceStatus())).toEqual(['Ready=Unknown/Progressing', 'Stalled=False/Progressing', 'Reconciling=True/Progressing']);
    expect(initialSourceStatus().updatedAt).toBeNull();
  });

  it('is Ready after an apply, with both revisions at the commit', () => {
    const s = after(applied(A));
    expect(brief(s)).toEqual(['Ready=True/Applied', 'Stalled=False/Applied', 'Reconciling=False/Applied']);
    expect(s).toMatchObject({ lastAppliedRevision: A, lastAttemptedRevision: A, lastError: null, updatedAt: 1000 });
    expect(s.conditions[0]?.message).toBe(`applied commit ${A}`);
  });

  it('stalls on a refused commit and keeps the last good revision', () => {
    const s = after(applied(A), stalled(B));
    expect(brief(s)).toEqual(['Ready=False/InvalidManifest', 'Stalled=True/InvalidManifest', 'Reconciling=False/InvalidManifest']);
    expect(s).toMatchObject({ lastAppliedRevision: A, lastAttemptedRevision: B, lastError: 'fleet/a.yaml:3: YAML syntax error' });
    expect(s.conditions[1]?.message).toBe('fleet/a.yaml:3: YAML syntax error');
    expect(isStalled(s)).toBe(true);
  });

  it('clears Stalled with the next good commit', () => {
    const s = after(applied(A), stalled(B), applied(C));
    expect(brief(s)).toEqual(['Ready=True/Applied', 'Stalled=False/Applied', 'Reconciling=False/Applied']);
    expect(s).toMatchObject({ lastAppliedRevision: C, lastAttemptedRevision: C, lastError: null });
  });

  it('retries a transient apply failure without stalling', () => {
    const s = after(applied(A), { kind: 'retrying', head: B, message: 'database unreachable' });
    expect(brief(s)).toEqual(['Ready=False/ApplyFailed', 'Stalled=False/ApplyFailed', 'Reconciling=True/ApplyFailed']);
    expect(s).toMatchObject({ lastAppliedRevision: A, lastAttemptedRevision: B });
  });

  it('says SourceUnavailable while unreadable, keeps revisions and a Stalled condition, and recovers', () => {
    const down = after(applied(A), unavailable);
    expect(brief(down)).toEqual(['Ready=False/SourceUnavailable', 'Stalled=False/Applied', 'Reconciling=True/SourceUnavailable']);
    expect(down).toMatchObject({ lastAppliedRevision: A, lastAttemptedRevision: A, lastError: 'branch main not found in /srv/fleet' });
    const back = statusAfter(down, { kind: 'unchanged', head: A }, 5000);
    expect(brief(back)).toEqual(['Ready=True/Applied', 'Stalled=False/Applied', 'Reconciling=False/Applied']);
    expect(back.lastError).toBeNull();

    const stalledDown = after(applied(A), stalled(B), unavailable);
    expect(brief(stalledDown)).toEqual(['Ready=False/SourceUnavailable', 'Stalled=True/InvalidManifest', 'Reconciling=True/SourceUnavailable']);
    const stalledBack = statusAfter(stalledDown, { kind: 'unchanged', head: B }, 5000);
    expect(brief(stalledBack)).toEqual(['Ready=False/InvalidManifest', 'Stalled=True/InvalidManifest', 'Reconciling=False/InvalidManifest']);
    expect(stalledBack.conditions[0]?.message).toBe('fleet/a.yaml:3: YAML syntax error');
  });

  it('changes only the pass time when nothing happened', () => {
    const before = after(applied(A));
    expect(statusAfter(before, { kind: 'unchanged', head: A }, 9000)).toEqual({ ...before, updatedAt: 9000 });
  });
});

describe('when a source is due', () => {
  it('is due before its first pass and once its interval has passed since the last', () => {
    expect(isDue({ updatedAt: null, intervalMs: 30_000 }, 0)).toBe(true);
    expect(isDue({ updatedAt: 10_000, intervalMs: 30_000 }, 39_999)).toBe(false);
    expect(isDue({ updatedAt: 10_000, intervalMs: 30_000 }, 40_000)).toBe(true);
  });
});
