import { EdgefleetError, fieldPath } from '@edgefleet/protocol';
import type { FastifyError } from 'fastify';
import type { z } from 'zod';
import type { Api } from './app.js';

/** Validates a request part with a zod schema; a failure is a 400 naming the first bad field. */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown, where = 'body'): z.infer<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue === undefined ? where : fieldPath(issue.path) || where;
  const isLabel = /^labels\.|^set\./.test(field) && /invalid label/.test(issue?.message ?? '');
  throw new EdgefleetError({
    code: isLabel ? 'invalid_label' : 'bad_request',
    message: `invalid ${where}: ${field}: ${issue?.message ?? 'invalid'}`,
    hint: isLabel ? 'label keys look like "geolocation.site", values like "warehouse-east"' : `fix the field "${field}" and send the request again`,
    field,
  });
}

/** Fastify's own 4xx errors, given our codes and hints. */
function fromFastifyError(err: FastifyError): EdgefleetError | undefined {
  const status = err.statusCode ?? 500;
  if (status === 413 || err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new EdgefleetError({ code: 'payload_too_large', message: 'request body is larger than 1 MiB', hint: 'send a smaller body' });
  }
  if (status >= 400 && status < 500) {
    return new EdgefleetError({
      code: 'bad_request',
      status,
      message: err.message,
      hint: err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'send the body as application/json' : 'send a well-formed JSON body',
      field: 'body',
    });
  }
  return undefined;
}

/**
 * One error handler for the whole API: our errors go out as
 * `{"error":{"code","message","hint"}}`; anything unexpected is a 500 whose details stay in
 * the log, never in the response.
 */
export function installErrorHandling(app: Api): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const known = err instanceof EdgefleetError ? err : fromFastifyError(err);
    if (known !== undefined) {
      request.log.info({ code: known.code, status: known.status }, known.message);
      void reply.status(known.status).send(known.toBody());
      return;
    }
    request.log.error({ err }, 'unexpected error');
    void reply.status(500).send(new EdgefleetError({ code: 'internal', message: 'internal server error', hint: 'see the server log for details' }).toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(
      new EdgefleetError({
        code: 'not_found',
        message: `no route ${request.method} ${request.url.split('?')[0]}`,
        hint: 'see docs/API.md for the routes',
      }).toBody(),
    );
  });
}
