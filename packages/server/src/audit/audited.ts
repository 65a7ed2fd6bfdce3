import type { ServerContext } from '../context.js';
import type { AuditEvent, Store } from '../store/index.js';

/**
 * Ends an audited change inside its transaction: calls the context's `afterChange` seam
 * (tests only) once, then appends the audit entries through `tx`, so the change and its
 * entries commit together or not at all.
 */
export async function auditInTx(ctx: Pick<ServerContext, 'afterChange'>, tx: Store, events: AuditEvent | readonly AuditEvent[]): Promise<void> {
  const all = Array.isArray(events) ? events : [events as AuditEvent];
  if (all.length === 0) return;
  await ctx.afterChange?.((all[0] as AuditEvent).action);
  for (const e of all) await tx.appendAudit(e);
}
