import {
  type ApiTokenCreated,
  ApiTokenCreateSchema,
  type ApiTokenInfo,
  assertValidLabel,
  type BootstrapTokenCreated,
  BootstrapTokenCreateSchema,
  type BootstrapTokenInfo,
  EdgefleetError,
  formatApiToken,
  formatBootstrapToken,
} from '@edgefleet/protocol';
import { z } from 'zod';
import { hashSecret, newId, newSecret } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';
import type { ApiTokenRecord, BootstrapTokenRecord } from '../store/index.js';

const DAY_S = 86_400;
export const DEFAULT_BOOTSTRAP_TTL_S = DAY_S;
export const MAX_BOOTSTRAP_TTL_S = 30 * DAY_S;
const IdParams = z.object({ id: z.string().min(1) });

function bootstrapInfo(t: BootstrapTokenRecord): BootstrapTokenInfo {
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

function apiTokenInfo(t: ApiTokenRecord): ApiTokenInfo {
  return { id: t.id, role: t.role, name: t.name, createdAt: new Date(t.createdAt).toISOString() };
}

/** Creates and stores a new API token; returns the token string (shown once) and its record. */
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

/** Bootstrap tokens (operators) and API tokens (admins). Secrets are shown once, at creation. */
export function tokenRoutes(app: Api, ctx: ServerContext): void {
  app.post('/v1/tokens', async (request, reply): Promise<BootstrapTokenCreated> => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const body = parseWith(BootstrapTokenCreateSchema, request.body);
    const ttl = body.ttlSeconds ?? DEFAULT_BOOTSTRAP_TTL_S;
    if (ttl > MAX_BOOTSTRAP_TTL_S) {
      throw new EdgefleetError({
        code: 'bad_request',
        status: 400,
        message: `token TTL ${ttl}s is longer than 30 days`,
        hint: 'use --ttl 30d or less',
        field: 'ttlSeconds',
      });
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
      createdBy: `token:${who.tokenId}`,
    };
    if (record.site !== null) {
      // The site becomes the geolocation.site label, so it must be a valid label value.
      assertValidLabel('geolocation.site', record.site);
    }
    await ctx.store.createBootstrapToken(record);
    await ctx.store.appendAudit({
      at: now,
      actor: `token:${who.tokenId}`,
      action: 'bootstrap-token.create',
      target: id,
      details: { site: record.site, uses: record.uses, ttlSeconds: ttl },
    });
    void reply.status(201);
    return { ...bootstrapInfo(record), token: formatBootstrapToken({ caFingerprint: ctx.dataDir.caFingerprint, id, secret }) };
  });

  app.get('/v1/tokens', async (request) => {
    await authenticateOperator(ctx.store, request, 'operator');
    return { items: (await ctx.store.listBootstrapTokens()).map(bootstrapInfo) };
  });

  app.delete('/v1/tokens/:id', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'operator');
    const { id } = parseWith(IdParams, request.params, 'path');
    if (!(await ctx.store.deleteBootstrapToken(id))) {
      throw new EdgefleetError({ code: 'not_found', status: 404, message: `bootstrap token ${id} not found`, hint: 'list tokens with "edgefleet token list"' });
    }
    await ctx.store.appendAudit({ at: ctx.clock(), actor: `token:${who.tokenId}`, action: 'bootstrap-token.delete', target: id, details: {} });
    return reply.status(204).send();
  });

  app.post('/v1/apitokens', async (request, reply): Promise<ApiTokenCreated> => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    const body = parseWith(ApiTokenCreateSchema, request.body);
    const { token, record } = await mintApiToken(ctx, body.role, body.name ?? null);
    await ctx.store.appendAudit({
      at: record.createdAt,
      actor: `token:${who.tokenId}`,
      action: 'api-token.create',
      target: record.id,
      details: { role: record.role },
    });
    void reply.status(201);
    return { ...apiTokenInfo(record), token };
  });

  app.get('/v1/apitokens', async (request) => {
    await authenticateOperator(ctx.store, request, 'admin');
    return { items: (await ctx.store.listApiTokens()).map(apiTokenInfo) };
  });

  app.delete('/v1/apitokens/:id', async (request, reply) => {
    const who = await authenticateOperator(ctx.store, request, 'admin');
    const { id } = parseWith(IdParams, request.params, 'path');
    const target = await ctx.store.getApiToken(id);
    if (target === undefined)
      throw new EdgefleetError({ code: 'not_found', status: 404, message: `API token ${id} not found`, hint: 'list tokens with GET /v1/apitokens' });
    if (target.role === 'admin' && (await ctx.store.countApiTokens('admin')) <= 1) {
      throw new EdgefleetError({
        code: 'conflict',
        status: 409,
        message: 'this is the last admin token',
        hint: 'create another admin token before deleting this one',
      });
    }
    await ctx.store.deleteApiToken(id);
    await ctx.store.appendAudit({ at: ctx.clock(), actor: `token:${who.tokenId}`, action: 'api-token.delete', target: id, details: {} });
    return reply.status(204).send();
  });

  app.get('/v1/audit', async (request) => {
    await authenticateOperator(ctx.store, request, 'viewer');
    const { limit } = parseWith(z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }), request.query, 'query');
    const events = await ctx.store.listAudit(limit);
    return { items: events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })) };
  });
}
