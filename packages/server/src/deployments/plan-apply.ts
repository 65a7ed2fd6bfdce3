import type { KeyObject } from 'node:crypto';
import {
  artifactOfPart,
  assertValidLabel,
  canonicalJson,
  type DeploymentManifest,
  type EdgefleetError,
  errors,
  parseSelector,
  RELEASE_ENV_HINT,
  type Release,
  releaseEnvProblem,
  type Selector,
  type SelectorSpec,
  selectorFromMatch,
} from '@edgefleet/protocol';
import { releaseDigest, releaseSignatureProblem } from '@edgefleet/protocol/node';
import type { DeploymentRecord, DeploymentWrite } from '../store/index.js';

/** Everything an apply decision depends on, gathered by the caller: the planner does no I/O. */
export interface ApplyContext {
  current: ReadonlyMap<string, DeploymentRecord>;
  /** Latest revision's release of each current deployment. */
  latestRelease: ReadonlyMap<string, Release>;
  artifactPresent: (digest: string) => boolean;
  trustedKeys: ReadonlyMap<string, KeyObject>;
  /** Why each trusted key may sign nothing new (revoked, expired), when it may not (deployments/keys.ts `keyNotLive`). */
  keyNotLive: (keyId: string) => { revoked: boolean; message: string } | undefined;
  /** This fleet's id (CA fingerprint): signatures must name it. */
  fleet: string;
  /** The signatures of each current deployment's revisions (its history, for the downgrade check). */
  signedRevisions: ReadonlyMap<string, readonly { signedAt: string; value: string }[]>;
  requireSigned: boolean;
  now: number;
  /** Label keys the fleet's nodes have (to refuse a cohortBy no node can match); empty when no node exists yet. */
  fleetLabelKeys?: ReadonlySet<string>;
  /** GitOps source name, or null for `edgefleet apply`. */
  source: string | null;
  commit: string | null;
}

/** The outcome for one manifest, printed as `deployment/NAME created|configured (revision N)|unchanged`. */
export interface ApplyResult {
  name: string;
  result: 'created' | 'configured' | 'unchanged';
  revision: number;
  generation: number;
}

/** Turns either selector spelling into requirements; a bad selector is a 400 naming it. */
export function selectorOf(spec: SelectorSpec): Selector {
  if (typeof spec === 'string') return parseSelector(spec);
  for (const [k, v] of Object.entries(spec.matchLabels ?? {})) assertValidLabel(k, v);
  const sel = selectorFromMatch({ ...spec, matchExpressions: spec.matchExpressions ?? [] });
  for (const r of sel) {
    if ((r.operator === 'In' || r.operator === 'NotIn') && r.values.length === 0) {
      throw errors.invalidSelector(`matchExpressions: ${r.key} ${r.operator} needs at least one value`, 'add values, or use Exists', {
        field: 'spec.selector',
      });
    }
  }
  return sel;
}

function refuse(name: string, message: string, hint: string, field: string): EdgefleetError {
  return errors.invalidManifest(`deployment/${name}: ${message}`, hint, { field });
}

/**
 * Decides what an apply changes, all or nothing: any refused manifest refuses the whole
 * set, so a GitOps commit never half-applies. Identical content is `unchanged`; any spec
 * change bumps `generation`; a change of `spec.release` (signature included) adds a new,
 * immutable revision with the next number — also when it equals an older one, which is
 * how a git revert rolls back.
 */
export function planApply(manifests: readonly DeploymentManifest[], ctx: ApplyContext): { writes: DeploymentWrite[]; results: ApplyResult[] } {
  const seen = new Set<string>();
  const writes: DeploymentWrite[] = [];
  const results: ApplyResult[] = [];
  for (const m of manifests) {
    const name = m.metadata.name;
    if (seen.has(name)) throw refuse(name, 'appears twice in one apply', 'keep one manifest per deployment name', 'metadata.name');
    seen.add(name);
    selectorOf(m.spec.selector);
    const keys = ctx.fleetLabelKeys;
    if (m.spec.rollout !== undefined && keys !== undefined && keys.size > 0) {
      const unknown = m.spec.rollout.cohortBy.filter((k) => !keys.has(k));
      if (unknown.length > 0) {
        throw refuse(
          name,
          `rollout.cohortBy names label(s) no node has: ${unknown.join(', ')}`,
          `use labels the nodes carry, such as ${[...keys].slice(0, 4).join(', ')}`,
          'spec.rollout.cohortBy',
        );
      }
    }
    const release = m.spec.release;
    for (const [field, part] of [
      ['spec.release.model.artifact', 'primary'],
      ['spec.release.fallback.artifact', 'fallback'],
    ] as const) {
      const artifact = artifactOfPart(release, part);
      if (artifact !== undefined && !ctx.artifactPresent(artifact)) {
        throw refuse(name, `artifact ${artifact} is not on the server`, `upload it first: edgefleet artifact push FILE (it prints the digest)`, field);
      }
    }
    // Before the signature: a signed release may not inject code either (docs/SECURITY.md).
    const envProblem = releaseEnvProblem(release);
    if (envProblem !== undefined) throw refuse(name, `${envProblem.field}: ${envProblem.message}`, RELEASE_ENV_HINT, `spec.release.${envProblem.field}`);
    if (release.signature === undefined) {
      if (ctx.requireSigned)
        throw refuse(
          name,
          'the release is not signed, and this server requires signed releases',
          'sign it: edgefleet release sign -f FILE --key NAME.key',
          'spec.release.signature',
        );
    } else {
      const problem = releaseSignatureProblem(release, ctx.trustedKeys, { fleet: ctx.fleet, deployment: name });
      if (problem !== undefined)
        throw refuse(
          name,
          problem,
          'sign with a key the server trusts (edgefleet keys trust NAME.pub), after the last edit of the release: edgefleet release sign -f FILE --key NAME.key',
          'spec.release.signature',
        );
      const freshness = freshnessProblem(release, ctx.signedRevisions.get(name) ?? [], ctx.keyNotLive(release.signature.keyId));
      if (freshness !== undefined) throw refuse(name, freshness.message, freshness.hint, 'spec.release.signature');
    }

    const existing = ctx.current.get(name);
    if (existing !== undefined && existing.source !== ctx.source) {
      const owner = existing.source === null ? 'edgefleet apply' : `GitOps source ${existing.source}`;
      throw refuse(name, `is managed by ${owner}`, 'change it where it is managed, or delete it there first', 'metadata.name');
    }
    if (existing !== undefined && canonicalJson(existing.spec) === canonicalJson(m.spec)) {
      results.push({ name, result: 'unchanged', revision: existing.revision, generation: existing.generation });
      continue;
    }
    const previous = ctx.latestRelease.get(name);
    const releaseChanged = previous === undefined || canonicalJson(previous) !== canonicalJson(release);
    const revision = (existing?.revision ?? 0) + (releaseChanged ? 1 : 0);
    const generation = (existing?.generation ?? 0) + 1;
    writes.push({
      deployment: { name, spec: m.spec, generation, revision, source: ctx.source, createdAt: existing?.createdAt ?? ctx.now, updatedAt: ctx.now },
      newRevision: releaseChanged
        ? { deployment: name, revision, release, releaseDigest: releaseDigest(release), commit: ctx.commit, createdAt: ctx.now }
        : undefined,
    });
    results.push({ name, result: existing === undefined ? 'created' : 'configured', revision, generation });
  }
  return { writes, results };
}

/**
 * Deployments an apply with prune deletes: those the same source applied before (its
 * inventory) that the new set no longer names. Another owner's deployments are never pruned.
 */
export function prunedDeployments(current: Iterable<DeploymentRecord>, manifests: readonly DeploymentManifest[], source: string | null): string[] {
  const names = new Set(manifests.map((m) => m.metadata.name));
  return [...current].filter((d) => d.source === source && !names.has(d.name)).map((d) => d.name);
}

/**
 * Why a signed release may not become a deployment's new revision: its key is revoked, or
 * expired (a key past its expiry may only bring back a release the deployment already ran),
 * or it was signed before the newest release the deployment ran and is not one of them (a
 * replayed old release: a downgrade). Nodes check the same against their own history.
 */
function freshnessProblem(
  release: Release,
  ran: readonly { signedAt: string; value: string }[],
  keyNotLive: { revoked: boolean; message: string } | undefined,
): { message: string; hint: string } | undefined {
  const sig = release.signature;
  const signedAt = sig?.signedAt;
  if (sig === undefined || signedAt === undefined) return undefined;
  const ranBefore = ran.some((r) => r.value === sig.value);
  if (keyNotLive !== undefined && (keyNotLive.revoked || !ranBefore)) {
    return {
      message: `the release can't be trusted: ${keyNotLive.message}`,
      hint: 'sign it with a live key (edgefleet keys list shows expiry and revocation)',
    };
  }
  const newest = ran.reduce<string | undefined>((top, r) => (top === undefined || r.signedAt > top ? r.signedAt : top), undefined);
  if (!ranBefore && newest !== undefined && signedAt < newest) {
    return {
      message: `the release was signed at ${signedAt}, before the newest release this deployment ran (signed at ${newest}): a replayed older release is a downgrade`,
      hint: 'to roll back to it, sign it again (edgefleet release sign), or apply the exact signed release of a revision this deployment ran',
    };
  }
  return undefined;
}
