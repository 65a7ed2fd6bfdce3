import {
  type ApiTokenCreate,
  type ApiTokenCreated,
  type ApiTokenInfo,
  type AuditEntry,
  assertValidLabel,
  type BootstrapTokenCreate,
  type BootstrapTokenCreated,
  type BootstrapTokenInfo,
  errors,
  formatApiToken,
  formatBootstrapToken,
} from '@edgefleet/protocol';
import { releaseKeyFingerprint } from '@edgefleet/protocol/node';
import { auditInTx } from '../audit/audited.js';
import { FLEET_WIDE, type Scope, SITE_LABEL } from '../auth/scope.js';
import { hashSecret, newId, newSecret } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import type { ApiTokenRecord, AuditEvent, AuditFilter, BootstrapTokenRecord, Store } from '../store/index.js';

const DAY_S = 86_400;
/** An API token's lifetime when the admin names none. */
export const DEFAULT_API_TOKEN_TTL_S = 90 * DAY_S;
/** A bootstrap token's lifetime when the operator names none. */
const DEFAULT_BOOTSTRAP_TTL_S = DAY_S;
/** The longest a bootstrap token may live. */
export const MAX_BOOTSTRAP_TTL_S = 30 * DAY_S;

/** The wire shape of a bootstrap token (never its secret). */
export function bootstrapTokenInfo(t: BootstrapTokenRecord): BootstrapTokenInfo {
  return {
    id: t.id,
    site: t.site,
    labels: t.labels,
    uses: t.uses,
    usesLeft: t.usesLeft,
    expiresAt: new Date(t.expiresAt).toISOString(),
    createdAt: new Date(t.createdAt).toISOString(),
    ...(t.boundSerial == null ? {} : { serial: t.boundSerial }),
    ...(t.boundHostname == null ? {} : { hostname: t.boundHostname }),
    ...(t.batchId == null ? {} : { batchId: t.batchId }),
  };
}

/** The wire shape of an API token (never its secret). */
function apiTokenInfo(t: ApiTokenRecord): ApiTokenInfo {
  const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
  return {
    id: t.id,
    role: t.role,
    name: t.name,
    createdAt: new Date(t.createdAt).toISOString(),
    expiresAt: iso(t.expiresAt),
    lastUsedAt: iso(t.lastUsedAt),
    sites: t.sites,
  };
}

/** What a new API token may do and for how long. */
interface MintOptions {
  role: ApiTokenRecord['role'];
  name: string | null;
  /** Lifetime in seconds; null: never expires (only the initial admin token). */
  ttlSeconds: number | null;
  sites: string[] | null;
}

/**
 * Creates and stores a new API token through `ctx.store` (pass a transaction's store to
 * join it); returns the token string (shown once) and its record.
 */
export async function mintApiToken(ctx: Pick<ServerContext, 'store' | 'clock'>, opts: MintOptions): Promise<{ token: string; record: ApiTokenRecord }> {
  const id = newId();
  const secret = newSecret();
  const now = ctx.clock();
  const record: ApiTokenRecord = {
    id,
    role: opts.role,
    name: opts.name,
    secretHash: hashSecret(secret),
    createdAt: now,
    expiresAt: opts.ttlSeconds === null ? null : now + opts.ttlSeconds * 1000,
    lastUsedAt: null,
    sites: opts.sites,
  };
  await ctx.store.createApiToken(record);
  return { token: formatApiToken({ id, secret }), record };
}

/**
 * Creates a bootstrap token (with its audit entry, in one transaction); the secret is in
 * the answer only. A caller limited to sites must name one of them: the token's site is
 * the site its nodes get.
 */
export async function createBootstrapToken(
  ctx: ServerContext,
  actor: string,
  body: BootstrapTokenCreate,
  scope: Scope = FLEET_WIDE,
): Promise<BootstrapTokenCreated> {
  if (scope.sites !== null && (body.site === undefined || !scope.sites.includes(body.site))) {
    throw errors.forbidden(
      `a token limited to sites (${scope.sites.join(',')}) can only create bootstrap tokens for one of them`,
      `add --site ${scope.sites[0] ?? 'SITE'}`,
      { field: 'site' },
    );
  }
  const ttl = body.ttlSeconds ?? DEFAULT_BOOTSTRAP_TTL_S;
  if (ttl > MAX_BOOTSTRAP_TTL_S) {
    throw errors.badRequest(`token TTL ${ttl}s is longer than 30 days`, 'use --ttl 30d or less', { field: 'ttlSeconds' });
  }
  const now = ctx.clock();
  const id = newId();
  const secret = newSecret();
  const record: BootstrapTokenRecord = {
    id,
    secretHash: hashSecret(secret),
    site: body.site ?? null,
    labels: body.labels ?? {},
    uses: body.uses ?? 1,
    usesLeft: body.uses ?? 1,
    expiresAt: now + ttl * 1000,
    createdAt: now,
    createdBy: actor,
    boundSerial: body.serial?.toLowerCase() ?? null,
    boundHostname: body.hostname?.toLowerCase() ?? null,
  };
  if ((record.boundSerial !== null || record.boundHostname !== null) && record.usesLeft !== 1) {
    throw errors.badRequest(
      `a token bound to one board (serial or hostname) enrolls one node, not ${record.uses}`,
      'drop --uses, or mint one token per board (edgefleet provision --devices devices.csv)',
      { field: 'uses' },
    );
  }
  if (record.site !== null) {
    // The site becomes the geolocation.site label, so it must be a valid label value.
    assertValidLabel('geolocation.site', record.site);
  }
  const releaseKey = body.releaseKeyFingerprint;
  if (releaseKey !== undefined) await assertRootReleaseKey(ctx, releaseKey);
  await ctx.store.transaction(async (tx) => {
    await tx.createBootstrapToken(record);
    await auditInTx(ctx, tx, {
      at: now,
      actor,
      action: 'bootstrap-token.create',
      target: id,
      details: {
        site: record.site,
        uses: record.uses,
        ttlSeconds: ttl,
        ...(releaseKey === undefined ? {} : { releaseKeyFingerprint: releaseKey }),
        ...(record.boundSerial === null ? {} : { serial: record.boundSerial }),
        ...(record.boundHostname === null ? {} : { hostname: record.boundHostname }),
      },
    });
  });
  return {
    ...bootstrapTokenInfo(record),
    token: formatBootstrapToken({ caFingerprint: ctx.dataDir.caFingerprint, id, secret, releaseKeyFingerprint: releaseKey }),
  };
}

/**
 * Refuses a release key a token cannot name: one this server does not trust (its nodes would
 * refuse the enrollment answer), or one that is not a root key (endorsed by another, or revoked).
 */
export async function assertRootReleaseKey(ctx: Pick<ServerContext, 'store'>, releaseKey: string): Promise<void> {
  // A node enrolled with it would refuse the enrollment answer: say so now, not at the node.
  const named = (await ctx.store.listReleaseKeys()).find((k) => releaseKeyFingerprint(k.publicKey) === releaseKey);
  if (named === undefined) {
    throw errors.badRequest(
      `this server does not trust the release key sha256:${releaseKey}, so nodes enrolled with the token would refuse it`,
      'trust the key first: edgefleet keys trust NAME.pub --endorse-with NAME.key (a first key endorses itself)',
      { field: 'releaseKeyFingerprint' },
    );
  }
  // The token names the anchor a node pins: the fleet's root key, whose own signature
  // vouches for its expiry. A key another key endorsed is vouched for by that key.
  if (named.signedBy !== null || named.revocation !== null) {
    throw errors.badRequest(
      `the release key ${named.keyId} is ${named.revocation !== null ? 'revoked' : `endorsed by ${named.signedBy}, not a root key`}: a token names the fleet's root release key, which new nodes pin`,
      'name the root key ("edgefleet keys list" shows it as ENDORSED BY (first key)): --release-key ROOT.pub',
      { field: 'releaseKeyFingerprint' },
    );
  }
}

/** Whether a caller may see a bootstrap token: fleet-wide callers all, scoped ones those of their sites. */
function bootstrapTokenInScope(scope: Scope, t: BootstrapTokenRecord): boolean {
  return scope.sites === null || (t.site !== null && scope.sites.includes(t.site));
}

/** Every bootstrap token the caller may see, without secrets. */
export async function listBootstrapTokens(ctx: ServerContext, scope: Scope = FLEET_WIDE): Promise<{ items: BootstrapTokenInfo[] }> {
  return { items: (await ctx.store.listBootstrapTokens()).filter((t) => bootstrapTokenInScope(scope, t)).map(bootstrapTokenInfo) };
}

/**
 * Deletes a bootstrap token with its audit entry; 404 when there is none (or it is of a
 * site outside the caller's). Nodes enrolled with it keep their certificates.
 */
export async function deleteBootstrapToken(ctx: ServerContext, actor: string, id: string, scope: Scope = FLEET_WIDE): Promise<void> {
  await ctx.store.transaction(async (tx) => {
    const found = await tx.getBootstrapToken(id);
    if (found === undefined || !bootstrapTokenInScope(scope, found) || !(await tx.deleteBootstrapToken(id))) {
      throw errors.notFound(`bootstrap token ${id} not found`, 'list tokens with "edgefleet token list"');
    }
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'bootstrap-token.delete', target: id, details: {} });
  });
}

/**
 * The sites of a new token, checked: valid label values, no repeats. Admin tokens cannot be
 * limited to sites: an admin creates tokens, so a scoped admin could mint a fleet-wide one.
 */
function tokenSites(body: ApiTokenCreate): string[] | null {
  if (body.sites === undefined) return null;
  if (body.role === 'admin') {
    throw errors.badRequest(
      'an admin token cannot be limited to sites (an admin creates tokens, including fleet-wide ones)',
      'use --role operator or --role viewer with --sites',
      {
        field: 'sites',
      },
    );
  }
  for (const site of body.sites) assertValidLabel(SITE_LABEL, site);
  return [...new Set(body.sites)].sort();
}

/** Creates an API token with its audit entry; the token string is in the answer only. */
export async function createApiToken(ctx: ServerContext, actor: string, body: ApiTokenCreate): Promise<ApiTokenCreated> {
  const sites = tokenSites(body);
  const ttlSeconds = body.ttlSeconds ?? DEFAULT_API_TOKEN_TTL_S;
  const { token, record } = await ctx.store.transaction(async (tx) => {
    const minted = await mintApiToken({ store: tx, clock: ctx.clock }, { role: body.role, name: body.name ?? null, ttlSeconds, sites });
    await auditInTx(ctx, tx, {
      at: minted.record.createdAt,
      actor,
      action: 'api-token.create',
      target: minted.record.id,
      details: { role: minted.record.role, expiresAt: minted.record.expiresAt, sites },
    });
    return minted;
  });
  return { ...apiTokenInfo(record), token };
}

/** Every API token, without secrets. */
export async function listApiTokens(ctx: ServerContext): Promise<{ items: ApiTokenInfo[] }> {
  return { items: (await ctx.store.listApiTokens()).map(apiTokenInfo) };
}

/**
 * Deletes an API token with its audit entry. The last admin token is refused (409): the
 * check and the delete are one store call in one transaction, so two concurrent deletes
 * cannot remove every admin.
 */
export async function deleteApiToken(ctx: ServerContext, actor: string, id: string): Promise<void> {
  await ctx.store.transaction(async (tx) => {
    const outcome = await tx.deleteApiTokenUnlessLastAdmin(id, ctx.clock());
    if (outcome === 'not_found') throw errors.notFound(`API token ${id} not found`, 'list tokens with "edgefleet apitoken list"');
    if (outcome === 'last_admin') {
      throw errors.conflict(
        'this is the last working admin token (the others, if any, have expired)',
        'create another admin token first: edgefleet apitoken create --role admin',
      );
    }
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'api-token.delete', target: id, details: {} });
  });
}

/**
 * Whether an API token still works at `now`: it exists and has not expired. Open watch
 * streams check it on every heartbeat, so a deleted or expired token ends its streams.
 */
export async function apiTokenStillValid(store: Pick<Store, 'getApiToken'>, id: string, now: number): Promise<boolean> {
  const record = await store.getApiToken(id);
  return record !== undefined && (record.expiresAt === null || record.expiresAt > now);
}

/** The wire shape of an audit entry. */
export function auditEntryView(e: AuditEvent): AuditEntry {
  return { ...e, at: new Date(e.at).toISOString() };
}

/**
 * The newest `limit` audit entries (at or after `since`), newest first. The log covers the
 * whole fleet, so a caller limited to sites sees only the entries it made itself.
 */
export async function listAuditEntries(
  ctx: ServerContext,
  caller: Scope & { tokenId: string },
  q: { limit: number; since?: string | undefined },
): Promise<{ items: AuditEntry[] }> {
  const filter: AuditFilter = {};
  if (q.since !== undefined) filter.since = Date.parse(q.since);
  if (caller.sites !== null) filter.actor = `token:${caller.tokenId}`;
  return { items: (await ctx.store.listAudit(q.limit, filter)).map(auditEntryView) };
}
