/**
 * Site-scoped API tokens (`apitoken create --role operator --sites store-12,store-13`).
 *
 * A scoped token sees and changes only nodes whose `geolocation.site` label (fixed at
 * enrollment by the bootstrap token) is one of its sites, and only deployments that cannot
 * reach any other node: a deployment is in scope when its selector has a requirement
 * `geolocation.site in (…)` (or `=`, or `matchLabels`) whose values are all among the
 * token's sites. Selectors are ANDed requirements, so that one requirement bounds every
 * node the deployment can ever select, whatever else the selector says and whichever
 * nodes join later. Anything else (`cpu.arch=arm64`, `geolocation.site!=x`,
 * `geolocation.site`, no selector on the site) can reach other sites and is out of scope.
 *
 * Out-of-scope nodes and deployments answer 404, as if they did not exist, so a scoped
 * token cannot even learn their names; an apply that would reach other sites is a 403
 * naming the rule.
 */
import { type DeploymentManifest, errors, type Selector } from '@edgefleet/protocol';
import { selectorOf } from '../deployments/plan-apply.js';
import type { TokenCaller } from '../http/auth.js';
import type { DeploymentRecord, NodeRecord } from '../store/index.js';

/** The label a node's site is in (set at enrollment from its bootstrap token). */
export const SITE_LABEL = 'geolocation.site';

/** The part of a caller scope checks read: the sites, null for the whole fleet. */
export type Scope = Pick<TokenCaller, 'sites'>;

/** The scope of callers that are not limited to sites (internal callers, fleet-wide tokens). */
export const FLEET_WIDE: Scope = { sites: null };

/** True when the caller may see and change the whole fleet. */
export function isFleetWide(scope: Scope): boolean {
  return scope.sites === null;
}

/**
 * Refuses (403) a caller limited to sites: for what acts on the whole fleet whatever its
 * content says (GitOps sources apply their manifests with their own, fleet-wide authority).
 */
export function assertFleetWide(scope: Scope, what: string): void {
  if (scope.sites === null) return;
  throw errors.forbidden(
    `${what} act on the whole fleet: a token limited to sites (${scope.sites.join(',')}) cannot use them`,
    'ask an operator whose token covers the whole fleet',
  );
}

/**
 * Whether a node's site is one of the caller's (always, for a fleet-wide token). The site
 * is the operator label only (set at enrollment from the bootstrap token, or by a
 * fleet-wide operator), never one the node reports about itself: a node enrolled without
 * a site must not join a site's scope by claiming it.
 */
export function nodeInScope(scope: Scope, node: Pick<NodeRecord, 'operatorLabels'>): boolean {
  if (scope.sites === null) return true;
  const site = node.operatorLabels[SITE_LABEL];
  return site !== undefined && scope.sites.includes(site);
}

/**
 * Whether every node `selector` can match has one of `sites` as its site: some requirement
 * is `geolocation.site In (values)` with every value among `sites`.
 */
export function selectorWithinSites(selector: Selector, sites: readonly string[]): boolean {
  return selector.some((r) => r.key === SITE_LABEL && r.operator === 'In' && r.values.length > 0 && r.values.every((v) => sites.includes(v)));
}

/** Whether a stored deployment is in the caller's scope (its selector pins the site to the caller's sites). */
export function deploymentInScope(scope: Scope, deployment: Pick<DeploymentRecord, 'spec'>): boolean {
  if (scope.sites === null) return true;
  try {
    return selectorWithinSites(selectorOf(deployment.spec.selector), scope.sites);
  } catch {
    // A stored selector that no longer parses reaches no one we can vouch for.
    return false;
  }
}

/**
 * Refuses (403) a manifest whose selector can reach nodes outside the caller's sites. Call
 * it before the apply plans anything.
 */
export function assertManifestInScope(scope: Scope, manifest: DeploymentManifest, origin: string): void {
  const sites = scope.sites;
  if (sites === null) return;
  const selector = selectorOf(manifest.spec.selector);
  if (selectorWithinSites(selector, sites)) return;
  const list = sites.join(',');
  throw errors.forbidden(
    `${origin}: deployment "${manifest.metadata.name}" can select nodes outside your sites (${list}): its selector must pin ${SITE_LABEL} to some of them`,
    `add "${SITE_LABEL} in (${list})" to spec.selector (for example selector: "${SITE_LABEL} in (${list}),<your labels>"); a token limited to sites can only deploy to them`,
    { field: 'spec.selector' },
  );
}

/** The 404 a scoped caller gets for a node of another site: the same as for a node that does not exist. */
export function nodeOutOfScope(ref: string) {
  return errors.notFound(`node "${ref}" not found`, 'list nodes with "edgefleet nodes list"; NODE is a node id or name');
}

/** Refuses (403) a scoped caller's change of the site label: moving a node between sites is a fleet-wide decision. */
export function assertSiteLabelUntouched(scope: Scope, set: Readonly<Record<string, string>>, remove: readonly string[]): void {
  if (scope.sites === null) return;
  if (Object.hasOwn(set, SITE_LABEL) || remove.includes(SITE_LABEL)) {
    throw errors.forbidden(
      `a token limited to sites cannot change the ${SITE_LABEL} label (it would move the node to another site)`,
      'ask an operator whose token covers the whole fleet',
      { field: 'set' },
    );
  }
}
