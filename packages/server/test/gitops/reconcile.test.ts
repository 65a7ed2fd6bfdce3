import { type DeploymentManifest, errors } from '@edgefleet/protocol';
import type { LocatedManifest } from '@edgefleet/protocol/node';
import { describe, expect, it } from 'vitest';
import { afterApplyFailure } from '../../src/gitops/reconcile.js';

const located: LocatedManifest[] = [{ manifest: { metadata: { name: 'detect' } } as DeploymentManifest, file: 'apps/detect.yaml', line: 3 }];

describe('afterApplyFailure', () => {
  it.each([
    { name: 'a refused manifest stalls, with its file and line', err: errors.invalidManifest('deployment/detect: bad', 'h'), kind: 'stalled' },
    { name: 'a missing key stalls', err: errors.notFound('deployment/detect: no key', 'h'), kind: 'stalled' },
    { name: 'a conflict of the moment retries', err: errors.contended('busy', 'h'), kind: 'retrying' },
    { name: 'a busy server (429) retries', err: errors.overloaded('busy', 'h'), kind: 'retrying' },
    { name: 'an internal error retries', err: errors.internal('boom', 'h'), kind: 'retrying' },
    { name: 'anything else retries', err: new Error('SQLITE_BUSY'), kind: 'retrying' },
  ])('$name', ({ err, kind }) => {
    const outcome = afterApplyFailure(err, 'abc123', located);
    expect(outcome.kind).toBe(kind);
    if (kind === 'stalled' && err.message.startsWith('deployment/detect:')) {
      expect(outcome).toMatchObject({ reason: 'ApplyFailed', message: `apps/detect.yaml:3: ${err.message}` });
    }
  });
});
