import {
  assertValidLabel,
  errors,
  formatBootstrapToken,
  type ProvisionBatchCreate,
  type ProvisionBatchCreated,
  type ProvisionBatchStatus,
  type ProvisionDeviceStatus,
  type ProvisionedDevice,
} from '@edgefleet/protocol';
import { auditInTx } from '../audit/audited.js';
import { FLEET_WIDE, type Scope, SITE_LABEL } from '../auth/scope.js';
import { hashSecret, newId, newSecret } from '../auth/secrets.js';
import type { ServerContext } from '../context.js';
import type { BootstrapTokenRecord } from '../store/index.js';
import { assertRootReleaseKey, MAX_BOOTSTRAP_TTL_S } from './service.js';

/** A provisioning batch's token lifetime when the operator names none: two weeks, for shipping. */
export const DEFAULT_PROVISION_TTL_S = 14 * 86_400;

/** The same serial or hostname twice in one batch: which one, and at which devices (1-based). */
function firstDuplicate(devices: ProvisionBatchCreate['devices']): string | undefined {
  const seen = new Map<string, number>();
  for (const [i, d] of devices.entries()) {
    for (const [kind, value] of [
      ['serial', d.serial],
      ['hostname', d.hostname],
    ] as const) {
      if (value === undefined) continue;
      const key = `${kind} ${value.toLowerCase()}`;
      const before = seen.get(key);
      if (before !== undefined) return `${key} is listed for devices ${before} and ${i + 1}`;
      seen.set(key, i + 1);
    }
  }
  return undefined;
}

/**
 * Mints a provisioning batch: one one-use bootstrap token per device, with the device's site
 * and labels as presets, bound to its serial and/or hostname, all expiring together and
 * naming the same release key. One transaction holds every token and one audit entry (the
 * batch, its token ids and devices, never a secret); the token texts are in the answer only.
 * A caller limited to sites may name only its own sites.
 */
export async function createProvisionBatch(
  ctx: ServerContext,
  actor: string,
  body: ProvisionBatchCreate,
  scope: Scope = FLEET_WIDE,
): Promise<ProvisionBatchCreated> {
  const ttl = body.ttlSeconds ?? DEFAULT_PROVISION_TTL_S;
  if (ttl > MAX_BOOTSTRAP_TTL_S) {
    throw errors.badRequest(`token TTL ${ttl}s is longer than 30 days`, 'use --ttl 30d or less', { field: 'ttlSeconds' });
  }
  const duplicate = firstDuplicate(body.devices);
  if (duplicate !== undefined) {
    throw errors.badRequest(`${duplicate}: each token binds one board`, 'list every board once', { field: 'devices' });
  }
  for (const [i, d] of body.devices.entries()) {
    if (scope.sites !== null && !scope.sites.includes(d.site)) {
      throw errors.forbidden(
        `device ${i + 1} is of site ${d.site}, outside this token's sites (${scope.sites.join(',')})`,
        'provision only devices of your sites, or ask an operator of the whole fleet',
        { field: 'devices' },
      );
    }
    assertValidLabel(SITE_LABEL, d.site);
    for (const [k, v] of Object.entries(d.labels ?? {})) assertValidLabel(k, v);
  }
  const releaseKey = body.releaseKeyFingerprint;
  if (releaseKey !== undefined) await assertRootReleaseKey(ctx, releaseKey);

  const batchId = `batch-${newId()}`;
  const now = ctx.clock();
  const expiresAt = now + ttl * 1000;
  const minted = body.devices.map((d) => {
    const secret = newSecret();
    const record: BootstrapTokenRecord = {
      id: newId(),
      secretHash: hashSecret(secret),
      site: d.site,
      labels: d.labels ?? {},
      uses: 1,
      usesLeft: 1,
      expiresAt,
      createdAt: now,
      createdBy: actor,
      boundSerial: d.serial?.toLowerCase() ?? null,
      boundHostname: d.hostname?.toLowerCase() ?? null,
      batchId,
    };
    const device: ProvisionedDevice = {
      serial: record.boundSerial ?? null,
      hostname: record.boundHostname ?? null,
      site: d.site,
      labels: record.labels,
      tokenId: record.id,
      token: formatBootstrapToken({ caFingerprint: ctx.dataDir.caFingerprint, id: record.id, secret, releaseKeyFingerprint: releaseKey }),
    };
    return { record, device };
  });
  await ctx.store.transaction(async (tx) => {
    for (const { record } of minted) await tx.createBootstrapToken(record);
    await auditInTx(ctx, tx, {
      at: now,
      actor,
      action: 'provision-batch.create',
      target: batchId,
      details: {
        ttlSeconds: ttl,
        ...(releaseKey === undefined ? {} : { releaseKeyFingerprint: releaseKey }),
        devices: minted.map(({ device }) => ({ tokenId: device.tokenId, serial: device.serial, hostname: device.hostname, site: device.site })),
      },
    });
  });
  return {
    id: batchId,
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(expiresAt).toISOString(),
    devices: minted.map((m) => m.device),
  };
}

/** Where one device of a batch is, from its token: enrolled once used, else expired or pending. */
function deviceState(t: BootstrapTokenRecord, now: number): ProvisionDeviceStatus['state'] {
  if (t.usesLeft <= 0 || t.enrolledNodeId != null) return 'enrolled';
  return t.expiresAt <= now ? 'expired' : 'pending';
}

/**
 * Which devices of a batch have enrolled (and as which node), which wait, and whose token
 * expired unused. A caller limited to sites sees its sites' devices only; a batch with none
 * of them (or none at all: unknown id, every token deleted) is 404.
 */
export async function provisionBatchStatus(ctx: ServerContext, batchId: string, scope: Scope = FLEET_WIDE): Promise<ProvisionBatchStatus> {
  const tokens = (await ctx.store.listBootstrapTokensOfBatch(batchId)).filter((t) => scope.sites === null || (t.site !== null && scope.sites.includes(t.site)));
  const first = tokens[0];
  if (first === undefined) {
    throw errors.notFound(`provisioning batch ${batchId} not found`, 'the batch id is in DIR/batch.json, written by "edgefleet provision"');
  }
  const now = ctx.clock();
  const devices: ProvisionDeviceStatus[] = [];
  for (const t of tokens) {
    const nodeId = t.enrolledNodeId ?? null;
    const node = nodeId === null ? undefined : await ctx.store.getNode(nodeId);
    devices.push({
      serial: t.boundSerial ?? null,
      hostname: t.boundHostname ?? null,
      site: t.site ?? '',
      tokenId: t.id,
      state: deviceState(t, now),
      node: nodeId === null ? null : { id: nodeId, name: node?.name ?? null },
      enrolledAt: t.enrolledAt == null ? null : new Date(t.enrolledAt).toISOString(),
      expiresAt: new Date(t.expiresAt).toISOString(),
    });
  }
  // Tokens of a batch share their creation time: show devices by name, numbers in order (cam-2 before cam-10).
  const name = (d: ProvisionDeviceStatus) => d.hostname ?? d.serial ?? '';
  devices.sort((a, b) => name(a).localeCompare(name(b), 'en', { numeric: true }));
  const count = (state: ProvisionDeviceStatus['state']) => devices.filter((d) => d.state === state).length;
  return {
    id: batchId,
    createdAt: new Date(first.createdAt).toISOString(),
    counts: { enrolled: count('enrolled'), pending: count('pending'), expired: count('expired') },
    devices,
  };
}
