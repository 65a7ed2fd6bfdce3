import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { ArtifactDigestSchema, type ArtifactInfo, EdgefleetError } from '@edgefleet/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { planArtifactResponse } from '../artifacts/http-range.js';
import { ARTIFACT_BODY_LIMIT_BYTES, listArtifacts, pushArtifact } from '../artifacts/service.js';
import type { ArtifactStore } from '../artifacts/store.js';
import type { ServerContext } from '../context.js';
import type { Api } from '../http/app.js';
import { authenticateNode, authenticateOperator } from '../http/auth.js';
import { parseWith } from '../http/errors.js';

/** Artifacts never change: caches (a site cache, a proxy) may keep them for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
const DigestParams = z.object({ digest: ArtifactDigestSchema });

function tooLarge(): EdgefleetError {
  return new EdgefleetError({
    code: 'payload_too_large',
    status: 413,
    message: 'the artifact is larger than 8 GiB',
    hint: 'ship a smaller model, or split it into several artifacts',
  });
}

function presentsClientCertificate(request: FastifyRequest): boolean {
  const socket = request.raw.socket as TLSSocket;
  const peer = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
  return peer !== undefined && peer !== null && Object.keys(peer).length > 0;
}

/**
 * Downloads are open to operators (a Bearer token, viewer role) and to agents (a client
 * certificate). A request with an Authorization header is an operator's, even when it
 * also presents a certificate, so a bad token is never silently ignored.
 */
async function authenticateReader(ctx: ServerContext, request: FastifyRequest): Promise<void> {
  if (request.headers.authorization !== undefined) {
    await authenticateOperator(ctx.store, request, 'viewer');
    return;
  }
  if (!presentsClientCertificate(request)) {
    throw new EdgefleetError({
      code: 'unauthenticated',
      status: 401,
      message: 'downloading an artifact needs an API token or a node client certificate',
      hint: 'operators: pass an API token with --token or EDGEFLEET_TOKEN; nodes: enroll with a bootstrap token first',
    });
  }
  await authenticateNode(ctx.store, request);
}

/**
 * Serves one artifact for GET and HEAD: ETag, single byte ranges, If-None-Match and
 * If-Range. The file is streamed from an open handle, never buffered.
 */
async function serveArtifact(store: ArtifactStore, request: FastifyRequest, reply: FastifyReply, withBody: boolean): Promise<FastifyReply> {
  const { digest } = parseWith(DigestParams, { digest: (request.params as { '*'?: string })['*'] }, 'path');
  const opened = await store.open(digest);
  if (opened === undefined) {
    throw new EdgefleetError({
      code: 'not_found',
      status: 404,
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
            status: 416,
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
 * server) and list; operators and agents download by digest.
 */
export function artifactRoutes(app: Api, ctx: ServerContext): void {
  const store = ctx.artifacts;

  // Uploads live in their own plugin scope: only there is a raw octet-stream body accepted,
  // and only there is the size limit 8 GiB. JSON parsing and its 1 MiB limit are untouched
  // everywhere else.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('application/octet-stream', (request, payload, done) => {
      // Refuse before reading a byte when the declared length is too much; a body without
      // Content-Length is counted as it is stored.
      if (Number(request.headers['content-length'] ?? 0) > ARTIFACT_BODY_LIMIT_BYTES) done(tooLarge(), undefined);
      else done(null, payload);
    });
    scope.addContentTypeParser('*', (request, _payload, done) => {
      done(
        new EdgefleetError({
          code: 'unsupported_media_type',
          status: 415,
          message: `an artifact is uploaded as application/octet-stream, not ${request.headers['content-type'] ?? 'without a content type'}`,
          hint: 'send the file itself as the body with content-type application/octet-stream, or use "edgefleet artifact push FILE"',
          field: 'content-type',
        }),
        undefined,
      );
    });

    scope.post(
      '/v1/artifacts',
      {
        bodyLimit: ARTIFACT_BODY_LIMIT_BYTES,
        // Authenticate before the body is parsed, so nobody without the role can make us read it.
        onRequest: async (request) => {
          await authenticateOperator(ctx.store, request, 'operator');
        },
        // A refused upload may still be arriving: close the connection rather than drain it.
        onError: async (request, reply) => {
          if (!request.raw.complete) void reply.header('connection', 'close');
        },
      },
      async (request, reply): Promise<ArtifactInfo> => {
        const info = await pushArtifact(ctx, `token:${request.operator!.tokenId}`, request.body as Readable | undefined, request.log);
        void reply.status(201);
        return info;
      },
    );
  });

  app.get('/v1/artifacts', async (request): Promise<{ items: ArtifactInfo[] }> => {
    await authenticateOperator(ctx.store, request, 'viewer');
    return listArtifacts(ctx);
  });

  // A wildcard rather than a :digest parameter: parameters longer than 100 characters get a
  // bare 414 from the router, and a malformed digest must be our 400 naming the field.
  // HEAD is its own route so that it never opens a stream it would throw away.
  app.get('/v1/artifacts/*', { exposeHeadRoute: false }, async (request, reply) => {
    await authenticateReader(ctx, request);
    return serveArtifact(store, request, reply, true);
  });
  app.head('/v1/artifacts/*', async (request, reply) => {
    await authenticateReader(ctx, request);
    return serveArtifact(store, request, reply, false);
  });
}
