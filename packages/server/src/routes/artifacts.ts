import type { Readable } from 'node:stream';
import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { planArtifactResponse } from '../artifacts/http-range.js';
import { assertNodeMayFetch, listArtifacts, pushArtifact } from '../artifacts/service.js';
import type { ArtifactStorage } from '../artifacts/store.js';
import type { ServerContext } from '../context.js';
import type { DesiredWatch } from '../deployments/desired-watch.js';
import { actorOf } from '../http/auth.js';
import type { RouteHandlers } from '../http/routes.js';

/** Artifacts never change: caches (a site cache, a proxy) may keep them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';

/**
 * Serves one artifact for GET and HEAD: ETag, single byte ranges, If-None-Match and
 * If-Range. The bytes are streamed (from an open file, or chunk by chunk from the
 * database), never buffered whole.
 */
async function serveArtifact(store: ArtifactStorage, digest: string, request: FastifyRequest, reply: FastifyReply, withBody: boolean): Promise<FastifyReply> {
  const opened = await store.open(digest);
  if (opened === undefined) {
    throw new EdgefleetError({
      code: 'not_found',
      message: `artifact ${digest} not found`,
      hint: 'push it with "edgefleet artifact push FILE"; list what the server holds with "edgefleet artifact list"',
      field: 'digest',
    });
  }
  const { size } = opened.entry;
  const etag = `"${opened.entry.digest}"`;
  const header = (name: string): string | undefined => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const plan = planArtifactResponse({ range: header('range'), ifNoneMatch: header('if-none-match'), ifRange: header('if-range') }, size, etag);
  void reply.header('etag', etag).header('cache-control', IMMUTABLE).header('accept-ranges', 'bytes');
  if (plan.status === 304 || plan.status === 416 || !withBody) await opened.close();
  switch (plan.status) {
    case 304:
      return reply.status(304).send();
    case 416:
      return reply
        .status(416)
        .header('content-range', `bytes */${size}`)
        .send(
          new EdgefleetError({
            code: 'range_not_satisfiable',
            message: `the requested range is outside the artifact's ${size} bytes`,
            hint: `ask for a range within bytes 0-${Math.max(0, size - 1)}, or for the whole artifact`,
            field: 'range',
          }).toBody(),
        );
    case 200:
      void reply.status(200).header('content-type', 'application/octet-stream').header('content-length', size);
      return reply.send(withBody ? opened.stream() : undefined);
    case 206:
      void reply
        .status(206)
        .header('content-type', 'application/octet-stream')
        .header('content-length', plan.end - plan.start + 1)
        .header('content-range', `bytes ${plan.start}-${plan.end}/${size}`);
      return reply.send(withBody ? opened.stream({ start: plan.start, end: plan.end }) : undefined);
  }
}

/**
 * The content-addressed artifact store over HTTP: operators push (streamed, hashed by the
 * server; the registrar reads only application/octet-stream there, up to 8 GiB) and list;
 * operators and agents download by digest (GET and HEAD, a route each, so HEAD never opens
 * a stream it would throw away).
 */
export function artifactHandlers(
  ctx: ServerContext,
  watch: DesiredWatch,
): Pick<RouteHandlers, 'pushArtifact' | 'listArtifacts' | 'downloadArtifact' | 'headArtifact'> {
  return {
    pushArtifact: async ({ caller, body, request }) => pushArtifact(ctx, actorOf(caller), body as Readable | undefined, request.log),
    listArtifacts: async () => listArtifacts(ctx),
    downloadArtifact: async ({ caller, params, request, reply }) => {
      if (caller.kind === 'node') await assertNodeMayFetch(ctx, watch, caller.node, params.digest);
      return serveArtifact(ctx.artifacts, params.digest, request, reply, true);
    },
    headArtifact: async ({ caller, params, request, reply }) => {
      if (caller.kind === 'node') await assertNodeMayFetch(ctx, watch, caller.node, params.digest);
      return serveArtifact(ctx.artifacts, params.digest, request, reply, false);
    },
  };
}
