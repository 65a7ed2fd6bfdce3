import { type Release, ReleaseSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { plan } from '../../src/workloads/planner.js';
import type { InstanceFailure, InstanceObservation, LocalWorkload, PlanInput, RevisionRejection, VerifiedWorkload } from '../../src/workloads/types.js';

const A = `sha256:${'a'.repeat(64)}`; // primary of revision 1
const B = `sha256:${'b'.repeat(64)}`; // primary of revision 2
const F = `sha256:${'f'.repeat(64)}`; // CPU fallback
const OLD = `sha256:${'0'.repeat(64)}`; // an artifact nobody needs

function release(primary: string, opts: { accelerator?: 'required' | 'preferred' | 'none'; fallback?: boolean } = {}): Release {
  return ReleaseSchema.parse({
    version: primary.slice(7, 10),
    model: { artifact: primary, format: 'hef' },
    ...(opts.fallback === false ? {} : { fallback: { artifact: F, format: 'onnx' } }),
    runtime: { kind: 'process', command: '/opt/hailo/serve', accelerator: opts.accelerator ?? 'required' },
    health: { window: '30s' },
  });
}
const R1 = release(A);
const R2 = release(B);

function want(revision: number, r: Release, verificationProblem?: string): VerifiedWorkload {
  return { deployment: 'detect', revision, release: r, verificationProblem };
}
function inst(
  revision: number,
  model: 'primary' | 'fallback',
  health: InstanceObservation['health'],
  over: Partial<InstanceObservation> = {},
): InstanceObservation {
  return {
    revision,
    model,
    health,
    startedAt: 0,
    promotedAt: 0,
    readySince: health === 'ready' ? 0 : undefined,
    port: 9000 + revision,
    pid: undefined,
    exit: undefined,
    ...over,
  };
}
function local(over: Partial<LocalWorkload>): Map<string, LocalWorkload> {
  return new Map([['detect', { deployment: 'detect', active: undefined, candidate: undefined, previousRevision: undefined, failures: [], ...over }]]);
}
function failure(
  revision: number,
  model: 'primary' | 'fallback',
  count: number,
  at = 100_000,
  reason: InstanceFailure['reason'] = 'crashed',
  message = 'process ended (SIGKILL)',
): InstanceFailure {
  return { kind: 'instance-failed', revision, model, reason, message, at, count };
}
function rejection(revision: number, at = 100_000): RevisionRejection {
  return { kind: 'revision-rejected', revision, model: 'primary', message: `revision ${revision} failed inside its health window`, at, count: 1 };
}

function input(over: Partial<PlanInput>): PlanInput {
  return {
    now: 100_000,
    desired: [],
    known: new Map([
      [
        'detect',
        new Map([
          [1, R1],
          [2, R2],
        ]),
      ],
    ]),
    local: new Map(),
    artifacts: new Set([A, F]),
    downloadFailures: new Map(),
    hasAccelerator: true,
    primaryRetryDelayMs: () => 60_000,
    crashLoopThreshold: 3,
    ...over,
  };
}

// Container releases (issue 16): images by canonical reference, no model.
const IMG1 = `registry.example:5000/team/detector@sha256:${'1'.repeat(64)}`;
const IMG2 = `registry.example:5000/team/detector@sha256:${'2'.repeat(64)}`;
const IMGF = `registry.example:5000/team/cpu@sha256:${'3'.repeat(64)}`;
function containerRelease(image: string, fallback?: 'model' | 'process' | 'container', accelerator: 'required' | 'preferred' | 'none' = 'none'): Release {
  const fallbacks = {
    model: { artifact: F, format: 'onnx' },
    process: { kind: 'process', command: '/usr/bin/cpu-serve' },
    container: { kind: 'container', image: `${IMGF.split('@')[0]}:v1@${IMGF.split('@')[1]}` },
  };
  return ReleaseSchema.parse({
    version: image.slice(-3),
    runtime: { kind: 'container', image, accelerator, resources: { memory: '64Mi' } },
    ...(fallback === undefined ? {} : { fallback: fallbacks[fallback] }),
    health: { window: '30s' },
  });
}
const C1 = containerRelease(IMG1);
const C2 = containerRelease(IMG2);
const PROC = ReleaseSchema.parse({ version: 'p', runtime: { kind: 'process', command: '/usr/bin/serve' }, health: { window: '30s' } });
function containers(over: Partial<PlanInput>, releases: [number, Release][] = [[1, C1]]): PlanInput {
  return input({ known: new Map([['detect', new Map(releases)]]), artifacts: new Set(), containerEngine: true, images: new Set(), ...over });
}

interface Case {
  name: string;
  input: PlanInput;
  steps: unknown[];
  state: string;
  reason?: string | null;
}

const cases: Case[] = [
  {
    name: 'fresh install: download the primary first',
    input: input({ desired: [want(1, R1)], artifacts: new Set() }),
    steps: [{ action: 'download', digest: A }],
    state: 'downloading',
  },
  {
    name: 'fresh install: artifact present, start the primary',
    input: input({ desired: [want(1, R1)], artifacts: new Set([A]) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'starting',
  },
  {
    name: 'converged: nothing to do',
    input: input({ desired: [want(1, R1)], artifacts: new Set([A, F]), local: local({ active: inst(1, 'primary', 'ready') }) }),
    steps: [],
    state: 'running',
    reason: null,
  },
  {
    name: 'upgrade: start revision 2 beside revision 1',
    input: input({ desired: [want(2, R2)], artifacts: new Set([A, B, F]), local: local({ active: inst(1, 'primary', 'ready') }) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }],
    state: 'starting',
  },
  {
    name: 'upgrade: revision 2 healthy takes over',
    input: input({
      desired: [want(2, R2)],
      artifacts: new Set([A, B, F]),
      local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'ready') }),
    }),
    steps: [{ action: 'promote', deployment: 'detect' }],
    state: 'running',
  },
  {
    name: 'upgrade: revision 2 fails in its health window after taking over → reject it',
    input: input({
      now: 110_000,
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({
        active: inst(2, 'primary', 'unready', { promotedAt: 100_000 }),
        previousRevision: 1,
        failures: [failure(2, 'primary', 1, 109_000, 'health-check-failed')],
      }),
    }),
    steps: [{ action: 'reject', deployment: 'detect', revision: 2, message: expect.stringContaining('switching back to revision 1') }],
    state: 'failed',
    reason: 'health-check-failed',
  },
  {
    name: 'after rejecting revision 2: start revision 1 again',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({ active: inst(2, 'primary', 'unready'), previousRevision: 1, failures: [rejection(2)] }),
    }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'failed',
    reason: 'health-check-failed',
  },
  {
    name: 'after rejecting revision 2: revision 1 healthy takes over, 2 is not retried',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({
        active: inst(2, 'primary', 'exited'),
        candidate: inst(1, 'primary', 'ready'),
        previousRevision: 1,
        failures: [rejection(2)],
      }),
    }),
    steps: [{ action: 'promote', deployment: 'detect' }],
    state: 'failed',
  },
  {
    name: 'a new revision that never becomes healthy is given up on while the old one serves',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({ active: inst(1, 'primary', 'ready'), failures: [failure(2, 'primary', 3)] }),
    }),
    steps: [],
    state: 'failed',
    reason: 'crashed',
  },
  {
    name: 'accelerator lost: switch to the CPU fallback',
    input: input({ desired: [want(1, R1)], hasAccelerator: false, local: local({ active: inst(1, 'primary', 'exited') }) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'starting',
    reason: 'accelerator-unavailable',
  },
  {
    name: 'accelerator lost: the fallback serves, degraded',
    input: input({ desired: [want(1, R1)], hasAccelerator: false, local: local({ active: inst(1, 'fallback', 'ready') }) }),
    steps: [],
    state: 'degraded',
    reason: 'accelerator-unavailable',
  },
  {
    name: 'node without accelerator and no fallback: failed, nothing started',
    input: input({ desired: [want(1, release(A, { fallback: false }))], artifacts: new Set([A]), hasAccelerator: false }),
    steps: [],
    state: 'failed',
    reason: 'accelerator-unavailable',
  },
  {
    name: 'accelerator back: start the primary beside the fallback',
    input: input({ desired: [want(1, R1)], local: local({ active: inst(1, 'fallback', 'ready') }) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'degraded',
  },
  {
    name: 'primary crashed once: restart after backoff',
    input: input({
      now: 101_500,
      desired: [want(1, R1)],
      local: local({ active: inst(1, 'primary', 'exited'), failures: [failure(1, 'primary', 1, 100_000)] }),
    }),
    steps: [{ action: 'restart', deployment: 'detect' }],
    state: 'starting',
    reason: 'restarting',
  },
  {
    name: 'primary crashed once: wait for the backoff',
    input: input({
      now: 100_500,
      desired: [want(1, R1)],
      local: local({ active: inst(1, 'primary', 'exited'), failures: [failure(1, 'primary', 1, 100_000)] }),
    }),
    steps: [],
    state: 'starting',
  },
  {
    name: 'primary crash loop: start the fallback',
    input: input({ desired: [want(1, R1)], local: local({ active: inst(1, 'primary', 'exited'), failures: [failure(1, 'primary', 3)] }) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'starting',
    reason: 'primary-crashloop',
  },
  {
    name: 'primary crash loop: fallback healthy takes over',
    input: input({
      desired: [want(1, R1)],
      local: local({ active: inst(1, 'primary', 'exited'), candidate: inst(1, 'fallback', 'ready'), failures: [failure(1, 'primary', 3)] }),
    }),
    steps: [{ action: 'promote', deployment: 'detect' }],
    state: 'degraded',
    reason: 'primary-crashloop',
  },
  {
    name: 'primary crash loop: retry the primary after the delay',
    input: input({ now: 170_000, desired: [want(1, R1)], local: local({ active: inst(1, 'fallback', 'ready'), failures: [failure(1, 'primary', 3)] }) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'degraded',
    reason: 'primary-crashloop',
  },
  {
    name: 'recovered primary: healthy but not yet for the window → fallback keeps serving',
    input: input({
      now: 175_000,
      desired: [want(1, R1)],
      local: local({
        active: inst(1, 'fallback', 'ready'),
        candidate: inst(1, 'primary', 'ready', { readySince: 171_000 }),
        failures: [failure(1, 'primary', 3)],
      }),
    }),
    steps: [],
    state: 'degraded',
  },
  {
    name: 'recovered primary: healthy for the window → switch back',
    input: input({
      now: 202_000,
      desired: [want(1, R1)],
      local: local({
        active: inst(1, 'fallback', 'ready'),
        candidate: inst(1, 'primary', 'ready', { readySince: 171_000 }),
        failures: [failure(1, 'primary', 3)],
      }),
    }),
    steps: [{ action: 'promote', deployment: 'detect' }],
    state: 'running',
  },
  {
    name: 'deleted deployment: stop, then collect its artifacts',
    input: input({ desired: [], artifacts: new Set([A, F]), local: local({ active: inst(1, 'primary', 'ready') }) }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'active', cause: 'no-longer-desired', reason: 'no longer desired' }],
    state: 'stopped',
  },
  {
    name: 'garbage collection keeps current and previous, removes the rest',
    input: input({ desired: [want(2, R2)], artifacts: new Set([A, B, F, OLD]), local: local({ active: inst(2, 'primary', 'ready'), previousRevision: 1 }) }),
    steps: [{ action: 'gc', keep: [A, B, F].sort(), keepImages: [] }],
    state: 'running',
  },
  {
    name: 'a release that fails verification never starts; the old one keeps serving',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2, 'the signature does not match')],
      local: local({ active: inst(1, 'primary', 'ready') }),
    }),
    steps: [],
    state: 'verification-failed',
    reason: 'signature-invalid',
  },
  {
    name: 'a signed release that sets a loader variable never starts; the old one keeps serving',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, { ...R2, env: { NODE_OPTIONS: '--require /tmp/evil.js' } })],
      local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'starting') }),
    }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'candidate', cause: 'verification-failed', reason: 'release environment refused' }],
    state: 'verification-failed',
    reason: 'env-refused',
  },
  {
    name: 'an instance of a release whose runtime env sets LD_PRELOAD is stopped (run by an older agent)',
    input: input({
      artifacts: new Set([A, F]),
      desired: [want(1, { ...R1, runtime: { ...R1.runtime, env: { LD_PRELOAD: '/tmp/x.so' } } })],
      local: local({ active: inst(1, 'primary', 'ready') }),
    }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'active', cause: 'verification-failed', reason: 'release environment refused' }],
    state: 'verification-failed',
    reason: 'env-refused',
  },
  {
    name: 'a tampered artifact is reported, not retried at once',
    input: input({
      desired: [want(2, R2)],
      artifacts: new Set([A, F]),
      downloadFailures: new Map([[B, { tampered: true, code: 'digest_mismatch', message: 'sha256 differs', retryAt: 200_000 }]]),
      local: local({ active: inst(1, 'primary', 'ready') }),
    }),
    steps: [],
    state: 'verification-failed',
    reason: 'digest-mismatch',
  },
  {
    name: 'restarted mid-download (power cut): serve the last revision again while downloading',
    input: input({ desired: [want(2, R2)], local: local({ lastServing: { revision: 1, model: 'primary' } }) }),
    steps: [
      { action: 'download', digest: B },
      { action: 'start', deployment: 'detect', revision: 1, model: 'primary' },
    ],
    state: 'downloading',
  },
  {
    name: 'interrupted download: download again (it resumes from the partial)',
    input: input({
      now: 300_000,
      desired: [want(2, R2)],
      artifacts: new Set([A, F]),
      downloadFailures: new Map([[B, { tampered: false, code: 'download_failed', message: 'socket hang up', retryAt: 200_000 }]]),
      local: local({ active: inst(1, 'primary', 'ready') }),
    }),
    steps: [{ action: 'download', digest: B }],
    state: 'downloading',
  },
  // Decisions follow the records' explicit fields (kind, tampered, cause), never their text.
  {
    name: 'an instance failure whose message reads like a rollback is not a rejection',
    input: input({
      now: 101_500,
      desired: [want(1, R1)],
      local: local({ active: inst(1, 'primary', 'exited'), failures: [failure(1, 'primary', 1, 100_000, 'crashed', 'rolled-back')] }),
    }),
    steps: [{ action: 'restart', deployment: 'detect' }],
    state: 'starting',
    reason: 'restarting',
  },
  {
    name: 'a rejection is told by its kind, whatever its message',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({ active: inst(2, 'primary', 'unready'), previousRevision: 1, failures: [{ ...rejection(2), message: 'crashed' }] }),
    }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'failed',
    reason: 'health-check-failed',
  },
  {
    name: 'a rejected revision whose candidate still runs: stop it, cause revision-rejected',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'starting'), failures: [rejection(2)] }),
    }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'candidate', cause: 'revision-rejected', reason: 'revision rejected' }],
    state: 'failed',
  },
  {
    name: 'a download refused (not tampered) is reported failed with its code as the reason',
    input: input({
      desired: [want(2, R2)],
      artifacts: new Set([A, F]),
      downloadFailures: new Map([[B, { tampered: false, code: 'not_found', message: 'no such artifact', retryAt: 200_000 }]]),
      local: local({ active: inst(1, 'primary', 'ready') }),
    }),
    steps: [],
    state: 'failed',
    reason: 'not-found',
  },
  {
    name: 'deleted deployment with a candidate: both stop, cause no-longer-desired',
    input: input({ desired: [], artifacts: new Set([A, F]), local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'starting') }) }),
    steps: [
      { action: 'stop', deployment: 'detect', which: 'candidate', cause: 'no-longer-desired', reason: 'no longer desired' },
      { action: 'stop', deployment: 'detect', which: 'active', cause: 'no-longer-desired', reason: 'no longer desired' },
    ],
    state: 'stopped',
  },
  {
    name: 'a candidate that died is stopped, cause candidate-failed',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'exited'), failures: [failure(2, 'primary', 1)] }),
    }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'candidate', cause: 'candidate-failed', reason: 'candidate exited' }],
    state: 'starting',
  },
  {
    name: 'an outdated candidate is stopped, cause superseded',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2)],
      local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(1, 'fallback', 'starting') }),
    }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'candidate', cause: 'superseded', reason: 'superseded' }],
    state: 'starting',
  },
  {
    name: 'a candidate of a release that fails verification is stopped, cause verification-failed',
    input: input({
      artifacts: new Set([A, B, F]),
      desired: [want(2, R2, 'the release is not signed')],
      local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'starting') }),
    }),
    steps: [{ action: 'stop', deployment: 'detect', which: 'candidate', cause: 'verification-failed', reason: 'release failed verification' }],
    state: 'verification-failed',
    reason: 'signature-invalid',
  },
  {
    name: 'container: pull the image first (through the image store, into the engine)',
    input: containers({ desired: [want(1, C1)] }),
    steps: [{ action: 'pull', image: IMG1, deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'downloading',
  },
  {
    name: 'container: image ready, start it (no model needed)',
    input: containers({ desired: [want(1, C1)], images: new Set([IMG1]) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'starting',
  },
  {
    name: 'container: a tag beside the digest is the same image',
    input: containers({ desired: [want(1, containerRelease(`registry.example:5000/team/detector:v1@sha256:${'1'.repeat(64)}`))], images: new Set([IMG1]) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'starting',
  },
  {
    name: 'container: revision 2 starts beside revision 1 once its image is in',
    input: containers({ desired: [want(2, C2)], images: new Set([IMG1, IMG2]), local: local({ active: inst(1, 'primary', 'ready') }) }, [
      [1, C1],
      [2, C2],
    ]),
    steps: [{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }],
    state: 'starting',
  },
  {
    name: 'container: images of revisions neither desired nor held are collected; the previous one is kept',
    input: containers(
      {
        desired: [want(3, containerRelease(IMGF))],
        images: new Set([IMG1, IMG2, IMGF]),
        local: local({ active: inst(3, 'primary', 'ready'), previousRevision: 2 }),
      },
      [
        [1, C1],
        [2, C2],
        [3, containerRelease(IMGF)],
      ],
    ),
    steps: [{ action: 'gc', keep: [], keepImages: [IMG2, IMGF].sort() }],
    state: 'running',
  },
  {
    name: 'container: no engine on the node and no fallback: runtime-unavailable',
    input: containers({ desired: [want(1, C1)], containerEngine: false }),
    steps: [],
    state: 'failed',
    reason: 'runtime-unavailable',
  },
  {
    name: 'container: no engine, a model fallback serves',
    input: containers({ desired: [want(1, containerRelease(IMG1, 'model'))], containerEngine: false, artifacts: new Set([F]) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'starting',
    reason: 'runtime-unavailable',
  },
  {
    name: 'container: no engine, a process fallback serves (nothing to download)',
    input: containers({ desired: [want(1, containerRelease(IMG1, 'process'))], containerEngine: undefined }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'starting',
    reason: 'runtime-unavailable',
  },
  {
    name: 'container: no engine, a container fallback cannot serve either',
    input: containers({ desired: [want(1, containerRelease(IMG1, 'container'))], containerEngine: false }),
    steps: [],
    state: 'failed',
    reason: 'runtime-unavailable',
  },
  {
    name: 'container: platform missing from the image index, the fallback image is pulled',
    input: containers({
      desired: [want(1, containerRelease(IMG1, 'container'))],
      imageFailures: new Map([[IMG1, { reason: 'platform-unavailable', message: 'no linux/arm64 in the index', retryAt: 200_000 }]]),
    }),
    steps: [{ action: 'pull', image: IMGF, deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'downloading',
    reason: 'platform-unavailable',
  },
  {
    name: 'container: platform missing for good, even after the retry time, the fallback serves',
    input: containers({
      desired: [want(1, containerRelease(IMG1, 'model'))],
      artifacts: new Set([F]),
      local: local({ active: inst(1, 'fallback', 'ready') }),
      imageFailures: new Map([[IMG1, { reason: 'platform-unavailable', message: 'no linux/arm64 in the index', retryAt: 50_000 }]]),
    }),
    steps: [],
    state: 'degraded',
    reason: 'platform-unavailable',
  },
  {
    name: 'container: platform missing and no fallback: failed',
    input: containers({
      desired: [want(1, C1)],
      imageFailures: new Map([[IMG1, { reason: 'platform-unavailable', message: 'no linux/arm64 in the index', retryAt: 200_000 }]]),
    }),
    steps: [],
    state: 'failed',
    reason: 'platform-unavailable',
  },
  {
    name: 'container: missing cosign signature is a verification failure until the retry',
    input: containers({
      desired: [want(1, C1)],
      imageFailures: new Map([[IMG1, { reason: 'image-signature-invalid', message: 'no cosign signature', retryAt: 200_000 }]]),
    }),
    steps: [],
    state: 'verification-failed',
    reason: 'image-signature-invalid',
  },
  {
    name: 'container: a failed pull is retried after its backoff',
    input: containers({
      desired: [want(1, C1)],
      imageFailures: new Map([[IMG1, { reason: 'image-pull-failed', message: 'registry unreachable', retryAt: 90_000 }]]),
    }),
    steps: [{ action: 'pull', image: IMG1, deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'downloading',
  },
  {
    name: 'container: restarted mid-pull, the last serving revision serves meanwhile',
    input: containers({ desired: [want(2, C2)], images: new Set([IMG1]), local: local({ lastServing: { revision: 1, model: 'primary' } }) }, [
      [1, C1],
      [2, C2],
    ]),
    steps: [
      { action: 'pull', image: IMG2, deployment: 'detect', revision: 2, model: 'primary' },
      { action: 'start', deployment: 'detect', revision: 1, model: 'primary' },
    ],
    state: 'downloading',
  },
  {
    name: 'container: crash loop with a process fallback: primary-crashloop, the fallback starts',
    input: containers({
      desired: [want(1, containerRelease(IMG1, 'process'))],
      images: new Set([IMG1]),
      local: local({ failures: [failure(1, 'primary', 3)] }),
    }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'starting',
    reason: 'primary-crashloop',
  },
  {
    name: 'container: the accelerator is required and missing, a container fallback is pulled',
    input: containers({ desired: [want(1, containerRelease(IMG1, 'container', 'required'))], hasAccelerator: false }),
    steps: [{ action: 'pull', image: IMGF, deployment: 'detect', revision: 1, model: 'fallback' }],
    state: 'downloading',
    reason: 'accelerator-unavailable',
  },
  {
    name: 'process without a model: starts at once, nothing to download',
    input: input({ desired: [want(1, PROC)], known: new Map([['detect', new Map([[1, PROC]])]]), artifacts: new Set() }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'starting',
  },
];

// Switching back after an agent restart: revision 2 served, revision 3 (no fallback) crashes.
const C = `sha256:${'c'.repeat(64)}`;
const R3 = release(C, { fallback: false });
function restarted(over: Partial<LocalWorkload>, extra: Partial<PlanInput> = {}): PlanInput {
  return input({
    desired: [want(3, R3)],
    known: new Map([
      [
        'detect',
        new Map([
          [1, R1],
          [2, R2],
          [3, R3],
        ]),
      ],
    ]),
    artifacts: new Set([A, B, C, F]),
    local: local({ previousRevision: 1, lastServing: { revision: 2, model: 'primary' }, ...over }),
    ...extra,
  });
}
const crashedThree = { active: inst(3, 'primary', 'exited'), failures: [failure(3, 'primary', 3)] };

const switchBackCases: Case[] = [
  {
    name: 'restarted, the desired revision crash-loops with no fallback and nothing else serves: back to the last revision that served',
    input: restarted(crashedThree),
    steps: [{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'switching back: the last revision is starting → wait',
    input: restarted({ ...crashedThree, candidate: inst(2, 'primary', 'starting') }),
    steps: [],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'switching back: the last revision is healthy → it takes over',
    input: restarted({ ...crashedThree, candidate: inst(2, 'primary', 'ready') }),
    steps: [{ action: 'promote', deployment: 'detect' }],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'switching back: the last revision failed too → the revision before it',
    input: restarted({ ...crashedThree, candidate: inst(2, 'primary', 'exited'), failures: [...crashedThree.failures, failure(2, 'primary', 1)] }),
    steps: [
      { action: 'stop', deployment: 'detect', which: 'candidate', cause: 'superseded', reason: 'superseded' },
      { action: 'start', deployment: 'detect', revision: 1, model: 'primary' },
    ],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'switching back: the last revision failed too and none served before it → stop it, try no more',
    input: restarted(
      { ...crashedThree, previousRevision: undefined, candidate: inst(2, 'primary', 'exited'), failures: [...crashedThree.failures, failure(2, 'primary', 1)] },
      { artifacts: new Set([B, C, F]) },
    ),
    steps: [{ action: 'stop', deployment: 'detect', which: 'candidate', cause: 'cannot-run', reason: 'primary-crashloop' }],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'switched back: the crashing revision stays given up on while the last one serves',
    input: restarted({ active: inst(2, 'primary', 'ready'), failures: crashedThree.failures }),
    steps: [],
    state: 'failed',
    reason: 'crashed',
  },
  {
    name: 'crash loop with no fallback: the last revision that served is not on the node (nor the one before) → nothing to switch back to',
    input: restarted(crashedThree, { artifacts: new Set([C, F]) }),
    steps: [],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'crash loop with no fallback: what served last is this revision and nothing served before → nothing to switch back to',
    input: restarted({ ...crashedThree, previousRevision: undefined, lastServing: { revision: 3, model: 'primary' } }, { artifacts: new Set([C]) }),
    steps: [],
    state: 'failed',
    reason: 'primary-crashloop',
  },
  {
    name: 'restarted with the desired revision rejected and nothing running: serve the last revision that served',
    input: restarted({ failures: [rejection(3)] }),
    steps: [{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }],
    state: 'failed',
    reason: 'health-check-failed',
  },
  {
    name: 'rejected and running: switch back to the last revision that served, not the one before it',
    input: restarted({ active: inst(3, 'primary', 'exited'), failures: [rejection(3)] }),
    steps: [{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }],
    state: 'failed',
    reason: 'health-check-failed',
  },
  {
    name: 'rejected, with no memory of what served: back to the revision before, as before',
    input: restarted({ active: inst(3, 'primary', 'exited'), failures: [rejection(3)], lastServing: undefined }, { artifacts: new Set([A, C, F]) }),
    steps: [{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }],
    state: 'failed',
    reason: 'health-check-failed',
  },
];

describe('switching back to the last revision that served', () => {
  it.each(switchBackCases)('$name', (c) => {
    const out = plan(c.input);
    expect(out.steps).toEqual(c.steps);
    expect(out.statuses[0]?.state).toBe(c.state);
    if (c.reason !== undefined) expect(out.statuses[0]?.reason).toBe(c.reason);
  });

  it('says which revision it switches back to, and that it serves once it does', () => {
    const crash = plan(restarted(crashedThree)).statuses[0];
    expect(crash?.message).toMatch(/the primary failed 3 times .* and the release has no fallback; retrying later; switching back to revision 2$/);
    expect(crash?.servingRevision).toBeNull();
    const promoted = plan(restarted({ active: inst(2, 'primary', 'ready'), failures: crashedThree.failures })).statuses[0];
    expect(promoted).toMatchObject({ revision: 3, state: 'failed', servingRevision: 2, active: 'primary' });
    expect(promoted?.message).toMatch(/revision 2 \(primary\) keeps serving$/);
  });

  it('a first instance started after a restart that fails inside its window is rejected, naming the revision that served last', () => {
    const out = plan(restarted({ active: inst(3, 'primary', 'exited', { promotedAt: 99_000 }), failures: [failure(3, 'primary', 1)] }));
    expect(out.steps).toEqual([
      {
        action: 'reject',
        deployment: 'detect',
        revision: 3,
        message: 'revision 3 failed inside its health window (process ended (SIGKILL)); switching back to revision 2',
      },
    ]);
  });
});

describe('the agent planner', () => {
  it.each(cases)('$name', (c) => {
    const out = plan(c.input);
    expect(out.steps).toEqual(c.steps);
    expect(out.statuses[0]?.state).toBe(c.state);
    if (c.reason !== undefined) expect(out.statuses[0]?.reason).toBe(c.reason);
  });

  it('reports the serving revision and endpoint while a new one starts', () => {
    const out = plan(
      input({
        desired: [want(2, R2)],
        artifacts: new Set([A, B, F]),
        local: local({ active: inst(1, 'primary', 'ready'), candidate: inst(2, 'primary', 'starting') }),
      }),
    );
    expect(out.statuses[0]).toMatchObject({
      revision: 2,
      state: 'starting',
      servingRevision: 1,
      endpoint: 'http://127.0.0.1:9001',
      active: 'primary',
      heldRevisions: [1, 2],
    });
  });
});

describe('site endpoints (spec.endpoint)', () => {
  const site = (name: string, port: number | null, r: Release = R1): VerifiedWorkload => ({
    deployment: name,
    revision: 1,
    release: r,
    verificationProblem: undefined,
    endpoint: port === null ? null : { port },
  });
  const known = (...names: string[]): PlanInput['known'] => new Map(names.map((n) => [n, new Map([[1, R1]])]));
  const slot = (name: string, over: Partial<LocalWorkload>): [string, LocalWorkload] => [
    name,
    { deployment: name, active: undefined, candidate: undefined, previousRevision: undefined, failures: [], ...over },
  ];
  const statusOf = (p: ReturnType<typeof plan>, name: string) => p.statuses.find((s) => s.deployment === name);

  it('opens the front door on the site port before anything starts', () => {
    const p = plan(input({ desired: [site('detect', 8080)] }));
    expect(p.steps).toEqual([{ action: 'listen', deployment: 'detect', port: 8080 }]);
    expect(statusOf(p, 'detect')).toMatchObject({ state: 'starting', reason: null });
  });

  it('once the door listens, starts as without an endpoint, and reports the site address', () => {
    const p = plan(input({ desired: [site('detect', 8080)], local: new Map([slot('detect', { sitePort: 8080, siteHost: '127.0.0.2' })]) }));
    expect(p.steps).toEqual([{ action: 'start', deployment: 'detect', revision: 1, model: 'primary' }]);
    const serving = plan(
      input({
        desired: [site('detect', 8080)],
        local: new Map([slot('detect', { sitePort: 8080, siteHost: '127.0.0.2', proxyPort: 40001, active: inst(1, 'primary', 'ready') })]),
      }),
    );
    expect(serving.steps).toEqual([]);
    expect(statusOf(serving, 'detect')).toMatchObject({ state: 'running', endpoint: 'http://127.0.0.2:8080' });
  });

  it('a revision switch keeps the same door (no listen step)', () => {
    const p = plan(
      input({
        desired: [{ ...site('detect', 8080), revision: 2, release: R2 }],
        artifacts: new Set([A, B, F]),
        local: new Map([slot('detect', { sitePort: 8080, siteHost: 'h', active: inst(1, 'primary', 'ready') })]),
      }),
    );
    expect(p.steps).toEqual([{ action: 'start', deployment: 'detect', revision: 2, model: 'primary' }]);
  });

  it('two deployments on one port: the first by name gets it, the other is refused with port-conflict', () => {
    const p = plan(input({ desired: [site('beta', 8080), site('alpha', 8080)], known: known('alpha', 'beta') }));
    expect(p.steps).toEqual([{ action: 'listen', deployment: 'alpha', port: 8080 }]);
    expect(statusOf(p, 'beta')).toMatchObject({ state: 'failed', reason: 'port-conflict' });
    expect(statusOf(p, 'beta')?.message).toMatch(/held by deployment alpha/);
  });

  it('the holder keeps its port; a newcomer earlier by name is refused and stops what it ran', () => {
    const p = plan(
      input({
        desired: [site('alpha', 8080), site('beta', 8080)],
        known: known('alpha', 'beta'),
        sitePorts: new Map([[8080, 'beta']]),
        local: new Map([
          slot('beta', { sitePort: 8080, active: inst(1, 'primary', 'ready') }),
          slot('alpha', { sitePort: 9090, active: inst(1, 'primary', 'ready') }),
        ]),
      }),
    );
    expect(p.steps).toEqual([
      { action: 'stop', deployment: 'alpha', which: 'active', cause: 'cannot-run', reason: 'port-conflict' },
      { action: 'listen', deployment: 'alpha', port: null },
    ]);
    expect(statusOf(p, 'alpha')).toMatchObject({ state: 'failed', reason: 'port-conflict' });
    expect(statusOf(p, 'beta')).toMatchObject({ state: 'running', reason: null });
  });

  it('a port held by another program: port-conflict, no retry before the backoff ends, then a retry', () => {
    const failure = {
      reason: 'port-conflict' as const,
      message: 'port 8080 on 0.0.0.0:8080 is in use by another program',
      port: 8080,
      retryAt: 102_000,
      count: 2,
    };
    const waiting = plan(input({ desired: [site('detect', 8080)], endpointFailures: new Map([['detect', failure]]) }));
    expect(waiting.steps).toEqual([]);
    expect(statusOf(waiting, 'detect')).toMatchObject({ state: 'failed', reason: 'port-conflict' });
    expect(statusOf(waiting, 'detect')?.message).toMatch(/attempt 2, next in 2 s/);
    const retrying = plan(input({ now: 102_000, desired: [site('detect', 8080)], endpointFailures: new Map([['detect', failure]]) }));
    expect(retrying.steps).toEqual([{ action: 'listen', deployment: 'detect', port: 8080 }]);
    expect(statusOf(retrying, 'detect')).toMatchObject({ state: 'failed', reason: 'port-conflict' });
  });

  it('an address the node cannot bind: endpoint-unavailable; a failure for another port does not hold a changed port back', () => {
    const failure = { reason: 'endpoint-unavailable' as const, message: 'cannot listen on 10.9.9.9:8080', port: 8080, retryAt: 200_000, count: 1 };
    const p = plan(input({ desired: [site('detect', 8080)], endpointFailures: new Map([['detect', failure]]) }));
    expect(statusOf(p, 'detect')).toMatchObject({ state: 'failed', reason: 'endpoint-unavailable' });
    const moved = plan(input({ desired: [site('detect', 8081)], endpointFailures: new Map([['detect', failure]]) }));
    expect(moved.steps).toEqual([{ action: 'listen', deployment: 'detect', port: 8081 }]);
  });

  it('a changed port moves the door while the revision keeps serving', () => {
    const p = plan(input({ desired: [site('detect', 8081)], local: new Map([slot('detect', { sitePort: 8080, active: inst(1, 'primary', 'ready') })]) }));
    expect(p.steps).toEqual([{ action: 'listen', deployment: 'detect', port: 8081 }]);
  });

  it('without an endpoint any more, the door goes back to loopback and the plan goes on', () => {
    const p = plan(
      input({ desired: [site('detect', null)], local: new Map([slot('detect', { sitePort: 8080, proxyPort: 40001, active: inst(1, 'primary', 'ready') })]) }),
    );
    expect(p.steps).toEqual([{ action: 'listen', deployment: 'detect', port: null }]);
    expect(statusOf(p, 'detect')).toMatchObject({ state: 'running' });
  });

  it('a deployment no longer desired with only its door open frees the port', () => {
    const p = plan(input({ desired: [], local: new Map([slot('detect', { sitePort: 8080 })]) }));
    expect(p.steps).toContainEqual({ action: 'listen', deployment: 'detect', port: null });
  });

  it('a release refused by verification claims no port', () => {
    const p = plan(input({ desired: [{ ...site('alpha', 8080), verificationProblem: 'bad signature' }, site('beta', 8080)], known: known('alpha', 'beta') }));
    expect(p.steps).toEqual([{ action: 'listen', deployment: 'beta', port: 8080 }]);
  });
});

describe('site endpoints: a deleted holder', () => {
  it('is stopped before the deployment waiting for its port listens, so the port is free when it tries', () => {
    const desired: VerifiedWorkload = { deployment: 'beta', revision: 1, release: R1, verificationProblem: undefined, endpoint: { port: 8080 } };
    const gone: LocalWorkload = {
      deployment: 'alpha',
      active: inst(1, 'primary', 'ready'),
      candidate: undefined,
      previousRevision: undefined,
      failures: [],
      sitePort: 8080,
    };
    const p = plan(
      input({ desired: [desired], known: new Map([['beta', new Map([[1, R1]])]]), sitePorts: new Map([[8080, 'alpha']]), local: new Map([['alpha', gone]]) }),
    );
    expect(p.steps).toEqual([
      { action: 'stop', deployment: 'alpha', which: 'active', cause: 'no-longer-desired', reason: 'no longer desired' },
      { action: 'listen', deployment: 'beta', port: 8080 },
    ]);
  });
});
