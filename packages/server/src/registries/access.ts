import { createHash, X509Certificate } from 'node:crypto';
import type { RegistryAccess, RegistryView } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import type { RegistryRecord } from '../store/index.js';
import { RegistrySecretBox, registrySecretContext } from './secret-box.js';

/** The server's registry secret box; a context built without one (tests) gets the data dir's, once. */
export function registrySecretsOf(ctx: ServerContext): RegistrySecretBox {
  ctx.registrySecrets ??= RegistrySecretBox.ofDataDir(ctx.dataDir.path);
  return ctx.registrySecrets;
}

/** The PEM certificates of a bundle, parsed; throws on one that does not parse. */
export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** A registry as the API shows it: never the password, only whether there is one. */
export function registryView(r: RegistryRecord): RegistryView {
  return {
    name: r.name,
    server: r.server,
    host: r.host,
    username: r.username,
    hasPassword: r.passwordSealed !== null,
    ca: (r.caPem === null ? [] : parseCaBundle(r.caPem)).map((c) => ({
      subject: c.subject.replaceAll('\n', ', '),
      fingerprint: createHash('sha256').update(c.raw).digest('hex'),
      notAfter: new Date(c.validTo).toISOString(),
    })),
    createdAt: new Date(r.createdAt).toISOString(),
    updatedAt: new Date(r.updatedAt).toISOString(),
  };
}

/** What was logged about passwords that don't open, per server: each cause once, not on every load. */
const reported = new WeakMap<ServerContext, Set<string>>();

/**
 * Every registry with its password opened, as desired state hands them to nodes. A
 * password that does not open (the key file is missing or another replica's, the stored
 * value was altered) never stops desired state: that registry goes out without its
 * password (nodes pulling from it then fail with the registry's 401, visibly in status) and
 * the server logs why, once per cause, without the password.
 */
export async function loadRegistryAccess(ctx: ServerContext): Promise<RegistryAccess[]> {
  const records = await ctx.store.listRegistries();
  return records.map((r) => {
    let password: string | null = null;
    if (r.passwordSealed !== null) {
      try {
        password = registrySecretsOf(ctx).open(r.passwordSealed, registrySecretContext(r.name, r.host));
      } catch (err) {
        const seen = reported.get(ctx) ?? new Set<string>();
        reported.set(ctx, seen);
        const message = (err as Error).message;
        if (!seen.has(`${r.name}\n${message}`)) {
          seen.add(`${r.name}\n${message}`);
          ctx.log.error({ registry: r.name }, `registry ${r.name}: nodes get it without its password: ${message}`);
        }
      }
    }
    return { name: r.name, server: r.server, caPem: r.caPem, username: r.username, password };
  });
}
