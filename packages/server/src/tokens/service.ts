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
import { hashSecret, newId, newSecret } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import type { ApiTokenRecord, AuditEvent, BootstrapTokenRecord } from '../store/index.js';

const DAY_S = 86_400;
/** A bootstrap token's lifetime when the operator names none. */
const DEFAULT_BOOTSTRAP_TTL_S = DAY_S;
/** The longest a bootstrap token may live. */
const MAX_BOOTSTRAP_TTL_S = 30 * DAY_S;

/** The wire shape of a bootstrap token (never its secret). */
function bootstrapTokenInfo(t: BootstrapTokenRecord): BootstrapTokenInfo {
  return {
    id: t.id,
    site: t.site,
    labels: t.labels,
    uses: t.uses,
    usesLeft: t.usesLeft,
    expiresAt: new Date(t.expiresAt).toISOString(),
    createdAt: new Date(t.createdAt).toISOString(),
  };
}

/** The wire shape of an API token (never its secret). */
function apiTokenInfo(t: ApiTokenRecord): ApiTokenInfo {
  return { id: t.id, role: t.role, name: t.name, createdAt: new Date(t.createdAt).toISOString() };
}

/**
 * Creates and stores a new API token through `ctx.store` (pass a transaction's store to
 * join it); returns the token string (shown once) and its record.
 */
export async function mintApiToken(
  ctx: Pick<ServerContext, 'store' | 'clock'>,
  role: ApiTokenRecord['role'],
  name: string | null,
): Promise<{ token: string; record: ApiTokenRecord }> {
  const id = newId();
  const secret = newSecret();
  const record: ApiTokenRecord = { id, role, name, secretHash: hashSecret(secret), createdAt: ctx.clock() };
  await ctx.store.createApiToken(record);
  return { token: formatApiToken({ id, secret }), record };
}

/** Creates a bootstrap token (with its audit entry, in one transaction); the secret is in the answer only. */
export async function createBootstrapToken(ctx: ServerContext, actor: string, body: BootstrapTokenCreate): Promise<BootstrapTokenCreated> {
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
  };
  if (record.site !== null) {
    // The site becomes the geolocation.site label, so it must be a valid label value.
    assertValidLabel('geolocation.site', record.site);
  }
  const releaseKey = body.releaseKeyFingerprint;
  if (releaseKey !== undefined) {
    // A node enrolled with it would refuse the enrollment answer: say so now, not at the node.
    const named = (await ctx.store.listReleaseKeys()).find((k) => releaseKeyFingerprint(k.publicKey) === releaseKey);
    if (named === undefined) {
      throw errors.badRequest(
        `this server does not trust the release key sha256:${releaseKey}, so nodes enrolled with the token would refuse it`,
        'trust the key first: edgefleet keys trust NAME.pub',
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
  await ctx.store.transaction(async (tx) => {
    await tx.createBootstrapToken(record);
    await auditInTx(ctx, tx, {
      at: now,
      actor,
      action: 'bootstrap-token.create',
      target: id,
      details: { site: record.site, uses: record.uses, ttlSeconds: ttl, ...(releaseKey === undefined ? {} : { releaseKeyFingerprint: releaseKey }) },
    });
  });
  return {
    ...bootstrapTokenInfo(record),
    token: formatBootstrapToken({ caFingerprint: ctx.dataDir.caFingerprint, id, secret, releaseKeyFingerprint: releaseKey }),
  };
}

/** Every bootstrap token, without secrets. */
export async function listBootstrapTokens(ctx: ServerContext): Promise<{ items: BootstrapTokenInfo[] }> {
  return { items: (await ctx.store.listBootstrapTokens()).map(bootstrapTokenInfo) };
}

/** Deletes a bootstrap token with its audit entry; 404 when there is none. */
export async function deleteBootstrapToken(ctx: ServerContext, actor: string, id: string): Promise<void> {
  await ctx.store.transaction(async (tx) => {
    if (!(await tx.deleteBootstrapToken(id))) {
      throw errors.notFound(`bootstrap token ${id} not found`, 'list tokens with "edgefleet token list"');
    }
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'bootstrap-token.delete', target: id, details: {} });
  });
}

/** Creates an API token with its audit entry; the token string is in the answer only. */
export async function createApiToken(ctx: ServerContext, actor: string, body: ApiTokenCreate): Promise<ApiTokenCreated> {
  const { token, record } = await ctx.store.transaction(async (tx) => {
    const minted = await mintApiToken({ store: tx, clock: ctx.clock }, body.role, body.name ?? null);
    await auditInTx(ctx, tx, {
      at: minted.record.createdAt,
      actor,
      action: 'api-token.create',
      target: minted.record.id,
      details: { role: minted.record.role },
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
    const outcome = await tx.deleteApiTokenUnlessLastAdmin(id);
    if (outcome === 'not_found') throw errors.notFound(`API token ${id} not found`, 'list tokens with GET /v1/apitokens');
    if (outcome === 'last_admin') {
      throw errors.conflict('this is the last admin token', 'create another admin token before deleting this one');
    }
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'api-token.delete', target: id, details: {} });
  });
}

/** The wire shape of an audit entry. */
export function auditEntryView(e: AuditEvent): AuditEntry {
  return { ...e, at: new Date(e.at).toISOString() };
}

/** The newest `limit` audit entries, newest first. */
export async function listAuditEntries(ctx: ServerContext, limit: number): Promise<{ items: AuditEntry[] }> {
  return { items: (await ctx.store.listAudit(limit)).map(auditEntryView) };
}
