import {
  type EdgefleetError,
  errors,
  parseRegistryServer,
  type RegistryCreate,
  type RegistryDeleteResponse,
  type RegistryPutResponse,
  type RegistryView,
} from '@edgefleet/protocol';
import { auditInTx } from '../audit/audited.js';
import type { ServerContext } from '../context.js';
import { imageHostsOf } from '../deployments/desired.js';
import type { RegistryRecord, Store } from '../store/index.js';
import { isUniqueViolation } from '../store/sql-store.js';
import { parseCaBundle, registrySecretsOf, registryView } from './access.js';
import { RegistrySecretError, registrySecretContext } from './secret-box.js';

/**
 * Container registries: where images come from, the CA that signs the registry's TLS
 * certificate and pull credentials. Operators manage them with fleet-wide tokens (routes
 * refuse site-scoped ones); the password is sealed before it reaches the store, never
 * answered by the API and never in an audit entry; nodes get it with their desired state
 * only for registries their workloads' images name (deployments/desired.ts).
 */

/** The CA bundle checked: every PEM block a certificate that parses and has not expired. */
function checkCa(pem: string, now: number): void {
  let certificates: ReturnType<typeof parseCaBundle>;
  try {
    certificates = parseCaBundle(pem);
  } catch (err) {
    throw errors.badRequest(
      `the CA certificate does not parse: ${(err as Error).message}`,
      'pass the PEM file of the CA that signs the registry certificate (--ca-file ca.crt)',
      {
        field: 'caPem',
      },
    );
  }
  for (const c of certificates) {
    if (Date.parse(c.validTo) <= now)
      throw errors.badRequest(
        `the CA certificate "${c.subject.replaceAll('\n', ', ')}" expired on ${new Date(c.validTo).toISOString()}`,
        'pass the current CA certificate of the registry',
        {
          field: 'caPem',
        },
      );
  }
}

function hostTaken(host: string, other: string): EdgefleetError {
  return errors.conflict(
    `registry "${other}" already has host ${host}`,
    `replace it instead (edgefleet registry add ${other} --server …), or delete it first`,
    {
      field: 'server',
    },
  );
}

/** Adds a registry, or replaces every field of the one of that name; 409 when another registry has the host. */
export async function createRegistry(ctx: ServerContext, actor: string, body: RegistryCreate): Promise<RegistryPutResponse> {
  const { server, host } = parseRegistryServer(body.server);
  const now = ctx.clock();
  if (body.caPem !== undefined) checkCa(body.caPem, now);
  let passwordSealed: string | null = null;
  if (body.password !== undefined) {
    try {
      passwordSealed = registrySecretsOf(ctx).seal(body.password, registrySecretContext(body.name, host));
    } catch (err) {
      if (!(err instanceof RegistrySecretError)) throw err;
      throw errors.internal(`cannot seal the registry password: ${err.message}`, 'check the server data dir (its registry-secrets.key)');
    }
  }
  const record: RegistryRecord = {
    name: body.name,
    server,
    host,
    username: body.username ?? null,
    passwordSealed,
    caPem: body.caPem ?? null,
    createdAt: now,
    updatedAt: now,
  };
  let outcome: { replaced: boolean; stored: RegistryRecord };
  try {
    // A unique violation ends the transaction (PostgreSQL aborts it): it is caught outside.
    outcome = await ctx.store.transaction(async (tx) => {
      const other = (await tx.listRegistries()).find((r) => r.host === host && r.name !== body.name);
      if (other !== undefined) throw hostTaken(host, other.name);
      const previous = await tx.getRegistry(body.name);
      const stored = { ...record, createdAt: previous?.createdAt ?? now };
      const { replaced } = await tx.putRegistry(stored);
      const view = registryView(stored);
      await auditInTx(ctx, tx, {
        at: now,
        actor,
        action: replaced ? 'registry.replace' : 'registry.add',
        target: body.name,
        details: { server, username: record.username, hasPassword: passwordSealed !== null, ca: view.ca.map((c) => c.fingerprint) },
      });
      return { replaced, stored };
    });
  } catch (err) {
    if (isUniqueViolation(err, 'host')) {
      const other = (await ctx.store.listRegistries()).find((r) => r.host === host && r.name !== body.name);
      throw hostTaken(host, other?.name ?? 'another registry');
    }
    throw err;
  }
  ctx.events.emit('desired');
  return { registry: registryView(outcome.stored), replaced: outcome.replaced };
}

/** Every registry, by name, without passwords. */
export async function listRegistries(ctx: ServerContext): Promise<{ items: RegistryView[] }> {
  return { items: (await ctx.store.listRegistries()).map(registryView) };
}

/** Deployments whose current revision pulls an image from `host`. */
async function deploymentsUsing(tx: Store, host: string): Promise<string[]> {
  const revisions = await tx.listCurrentRevisions();
  return revisions
    .filter((r) => imageHostsOf(r.release).includes(host.toLowerCase()))
    .map((r) => r.deployment)
    .sort();
}

/**
 * Deletes a registry; 404 when there is none. Allowed while deployments pull from it (an
 * operator moving them to another registry deletes the old one first, or last): the answer
 * names them and warns that their nodes keep the images they hold but pull new ones without
 * its credentials and CA.
 */
export async function deleteRegistry(ctx: ServerContext, actor: string, name: string): Promise<RegistryDeleteResponse> {
  const inUseBy = await ctx.store.transaction(async (tx) => {
    const existing = await tx.getRegistry(name);
    if (existing === undefined || !(await tx.deleteRegistry(name)))
      throw errors.notFound(`registry "${name}" not found`, 'list registries with "edgefleet registry list"');
    const using = await deploymentsUsing(tx, existing.host);
    await auditInTx(ctx, tx, { at: ctx.clock(), actor, action: 'registry.delete', target: name, details: { server: existing.server, inUseBy: using } });
    return using;
  });
  ctx.events.emit('desired');
  return {
    deleted: name,
    inUseBy,
    warning:
      inUseBy.length === 0
        ? null
        : `deployments ${inUseBy.join(', ')} still pull images from this registry: their nodes keep the images they hold, but new pulls go without its credentials and CA (add the registry again, or move the images)`,
  };
}
