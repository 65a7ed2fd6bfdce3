import type { ServerContext } from '../context.js';
import { NodeQuotas } from './node-quotas.js';

/** The server's node quotas; a context built without them (tests) gets the defaults once. */
export function quotasOf(ctx: ServerContext): NodeQuotas {
  ctx.quotas ??= new NodeQuotas({}, ctx.log, ctx.clock);
  return ctx.quotas;
}
