import { errors } from '@edgefleet/protocol';
import type { ServerContext } from '../context.js';
import { AnswerPacer, PACER_DEFAULTS } from '../deployments/answer-pacer.js';
import type { DesiredWatch } from '../deployments/desired-watch.js';
import { pollDesiredState } from '../deployments/node-desired.js';
import type { Api } from '../http/app.js';
import type { RouteHandlers } from '../http/routes.js';
import { renewNodeCertificate } from '../nodes/service.js';
import { LongPollSlots, REPLACED } from '../quotas/long-poll-slots.js';
import { quotasOf } from '../quotas/of-context.js';
import { reportStatus } from '../telemetry/status-report.js';
import { statusIsUnchanged } from '../telemetry/upload-answer.js';

/** Agent routes (client certificate, see http/auth.ts): heartbeats, desired state and certificate renewal. */
export function agentHandlers(app: Api, ctx: ServerContext, watch: DesiredWatch): Pick<RouteHandlers, 'reportStatus' | 'desired' | 'renew'> {
  // Long polls wait on the process's one watch of desired state (deployments/desired-watch.ts), started by the app; stopped here, after `closing` is set.
  // Changed answers go out at the pace the server's event loop allows (deployments/answer-pacer.ts),
  // each replica at its share of the fleet's pace.
  const pacer = new AnswerPacer(PACER_DEFAULTS, undefined, undefined, () => 1 / (ctx.replicas?.() ?? 1));
  // One long poll per node: a new one ends the older (quotas/long-poll-slots.ts).
  const slots = new LongPollSlots(quotasOf(ctx).limits.longPollsPerNode);
  // On shutdown, end long polls at once instead of holding the close for their full wait.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    pacer.stop();
    await watch.stop();
  });

  return {
    // 204 when the node already holds the settings and interval the answer would carry (issue 18).
    reportStatus: async ({ caller, body, query, reply }) => {
      const answer = await reportStatus(ctx, caller.node, body);
      return statusIsUnchanged(answer, query.known) ? reply.status(204).send() : answer;
    },

    desired: async ({ caller, query, reply }) => {
      // The response closes before it is sent only when the agent went away; or a newer poll of the node takes its slot.
      const gone = new AbortController();
      const onClose = (): void => gone.abort();
      reply.raw.on('close', onClose);
      const slot = slots.claim(caller.node.id);
      const onReplaced = (): void => gone.abort(REPLACED);
      slot.signal.addEventListener('abort', onReplaced, { once: true });
      try {
        const outcome = await pollDesiredState(watch, ctx, {
          node: caller.node,
          since: query.since,
          waitSeconds: query.wait,
          // A poll subscribes to changes after the moment its node was read.
          readAt: caller.readAt,
          signal: gone.signal,
          closing: () => closing,
          pace: (signal, pollLeftMs) => pacer.admit(signal, pollLeftMs),
        });
        switch (outcome.kind) {
          case 'changed':
            return outcome.desired;
          case 'unchanged':
            return reply.status(304).send();
          case 'aborted':
            if (gone.signal.reason !== REPLACED) return reply;
            quotasOf(ctx).refused(caller.node, 'long-polls', 1, `node ${caller.node.name} opened a second long poll; the older one was ended`);
            throw errors.quotaExceeded(
              'a newer long poll of this node replaced this one: a node holds one at a time',
              'run one agent per node identity; if two run with the same data dir, stop one',
            );
          case 'node-gone':
            return reply.status(403).send({ error: { code: 'certificate_revoked', message: 'the node no longer exists', hint: 'enroll it again' } });
          case 'closing':
            return reply.status(503).send({ error: { code: 'unavailable', message: 'the server is shutting down', hint: 'the agent retries by itself' } });
        }
      } finally {
        reply.raw.off('close', onClose);
        slot.signal.removeEventListener('abort', onReplaced);
        slot.release();
      }
    },

    renew: async ({ caller, body, request }) => renewNodeCertificate(ctx, caller.node, caller.certSerial, body, request.log),
  };
}
