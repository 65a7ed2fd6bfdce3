import { EdgefleetError, EnrollRequestSchema, type EnrollResponse, parseBootstrapToken } from '@edgefleet/protocol';
import { newId, secretMatches } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import { toTrustedKey } from '../deployments/keys.js';
import type { Api } from '../http/app.js';
import { parseWith } from '../http/errors.js';
import { issueNodeCertificate, verifyCsr } from '../pki/ca.js';
import { isUniqueViolation, type NodeRecord } from '../store/index.js';

function tokenError(code: 'token_invalid' | 'token_expired' | 'token_exhausted', message: string): EdgefleetError {
  const hint = {
    token_invalid: 'create a token on this server with "edgefleet token create" and give it to the agent',
    token_expired: 'the token is past its TTL: create a new one with "edgefleet token create --ttl 24h"',
    token_exhausted: 'every use of the token is taken: create a new one, with --uses N to enroll N nodes',
  }[code];
  return new EdgefleetError({ code, status: 401, message, hint, field: 'token' });
}

/** Node names are DNS-label-like so they can be typed in the CLI and used as hostnames. */
function cleanName(raw: string): string {
  const cleaned = raw
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63);
  return cleaned === '' ? 'node' : cleaned;
}

/**
 * POST /v1/enroll: a bootstrap token and a CSR in, a client certificate out. The token's
 * use is taken only after the CSR checks out, so a broken agent cannot burn tokens.
 */
export function enrollRoutes(app: Api, ctx: ServerContext): void {
  app.post('/v1/enroll', async (request): Promise<EnrollResponse> => {
    const body = parseWith(EnrollRequestSchema, request.body);
    const parts = parseBootstrapToken(body.token);
    if (parts.caFingerprint !== ctx.dataDir.caFingerprint)
      throw tokenError('token_invalid', 'the bootstrap token was issued by another fleet (its CA fingerprint differs)');
    const token = await ctx.store.getBootstrapToken(parts.id);
    if (token === undefined || !secretMatches(parts.secret, token.secretHash)) throw tokenError('token_invalid', 'the bootstrap token is unknown');
    const now = ctx.clock();
    if (token.expiresAt <= now) throw tokenError('token_expired', `the bootstrap token ${token.id} expired at ${new Date(token.expiresAt).toISOString()}`);
    if (token.usesLeft <= 0) throw tokenError('token_exhausted', `the bootstrap token ${token.id} has no uses left`);

    const publicKey = await verifyCsr(body.csr);
    const taken = await ctx.store.consumeBootstrapToken(token.id, now);
    if (!taken.ok) {
      throw taken.reason === 'expired'
        ? tokenError('token_expired', `the bootstrap token ${token.id} has expired`)
        : tokenError('token_exhausted', `the bootstrap token ${token.id} has no uses left`);
    }

    // Token presets are operator labels: the operator chose them when creating the token.
    const presets = { ...taken.token.labels, ...(taken.token.site === null ? {} : { 'geolocation.site': taken.token.site }) };
    const serial = body.facts.board.serial;
    const existing = serial === null ? undefined : await ctx.store.getNodeByHardwareSerial(serial);
    let node: NodeRecord;
    if (existing !== undefined) {
      // Same hardware enrolling again (reflashed card, lost identity): keep its record
      // and every label an operator set; presets only fill gaps.
      node = { ...existing, detectedLabels: body.labels, operatorLabels: { ...presets, ...existing.operatorLabels }, facts: body.facts, lastSeen: now };
    } else {
      const id = `node-${newId()}`;
      node = {
        id,
        name: await uniqueName(ctx, cleanName(body.name ?? body.facts.hostname ?? `${body.facts.board.slug}-${(serial ?? id).slice(-6)}`), id),
        hardwareSerial: serial,
        detectedLabels: body.labels,
        operatorLabels: presets,
        facts: body.facts,
        certSerial: '',
        certNotAfter: 0,
        lastSeen: now,
        createdAt: now,
      };
    }
    const cert = await issueNodeCertificate(ctx.dataDir.ca, node.id, publicKey, new Date(now), ctx.nodeCertLifetimeMs);
    node = { ...node, certSerial: cert.serial, certNotAfter: cert.notAfter.getTime() };
    if (existing === undefined) node = await createNodeRecord(ctx, node);
    else await ctx.store.updateNode(node);
    await ctx.store.recordCertificate({ serial: cert.serial, nodeId: node.id, issuedAt: now, notAfter: cert.notAfter.getTime(), revokedAt: null });
    await ctx.store.appendAudit({
      at: now,
      actor: `bootstrap-token:${token.id}`,
      action: existing === undefined ? 'node.enroll' : 'node.reenroll',
      target: node.id,
      details: { name: node.name, certSerial: cert.serial },
    });
    request.log.info({ nodeId: node.id, name: node.name, tokenId: token.id, reenrolled: existing !== undefined }, 'node enrolled');
    return {
      nodeId: node.id,
      name: node.name,
      certificate: cert.pem,
      caCertificate: ctx.dataDir.ca.certPem,
      heartbeatIntervalSeconds: ctx.heartbeatIntervalMs / 1000,
      trustedKeys: (await ctx.store.listReleaseKeys()).map(toTrustedKey),
    };
  });
}

/**
 * Inserts a new node. Two nodes enrolling at once with the same hostname both see the name
 * free; the loser of that race takes the name with its id appended. The same board serial
 * enrolling twice at once is a conflict the agent retries.
 */
async function createNodeRecord(ctx: ServerContext, node: NodeRecord): Promise<NodeRecord> {
  try {
    await ctx.store.createNode(node);
    return node;
  } catch (err) {
    if (isUniqueViolation(err, 'name')) {
      const renamed = { ...node, name: `${node.name.slice(0, 50)}-${node.id.slice(-6)}` };
      await ctx.store.createNode(renamed);
      return renamed;
    }
    if (isUniqueViolation(err, 'hardware_serial')) {
      throw new EdgefleetError({
        code: 'conflict',
        status: 409,
        message: 'a node with this board serial is enrolling at the same moment',
        hint: 'retry the enrollment',
      });
    }
    throw err;
  }
}

async function uniqueName(ctx: ServerContext, wanted: string, id: string): Promise<string> {
  if ((await ctx.store.getNodeByName(wanted)) === undefined) return wanted;
  return `${wanted.slice(0, 50)}-${id.slice(-6)}`;
}
