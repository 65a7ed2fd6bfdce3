/**
 * Errors raised before any route runs, in the API's error shape
 * (`{"error":{"code","message","hint"}}`) rather than Fastify's own
 * (`{"error":"Bad Request","message":"Client Error","statusCode":400}`), so every 4xx a
 * client gets says what is wrong and how to fix it. Found by the HTTP fuzzer (issue 14).
 */
import type { Socket } from 'node:net';
import { EdgefleetError } from '@edgefleet/protocol';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Fastify's `frameworkErrors`: a path that is not valid percent-encoding (`/v1/nodes/%zz`)
 * or with a parameter over the router's 100 characters fails in the router, before any
 * route or hook; anything else goes to the error handler.
 */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_BAD_URL') {
    void reply.status(400).send(
      new EdgefleetError({
        code: 'bad_request',
        message: 'the path is not valid percent-encoding',
        hint: 'encode reserved and non-ASCII characters in the path as %XX of their UTF-8 bytes',
        field: 'path',
      }).toBody(),
    );
    return;
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply.status(414).send(
      new EdgefleetError({
        code: 'bad_request',
        message: 'a path parameter is longer than 100 characters',
        hint: 'names, ids and digests are shorter: check the path',
        field: 'path',
      }).toBody(),
    );
    return;
  }
  void reply.send(error);
}

/** What the HTTP parser's refusals are answered with. */
function clientErrorAnswer(code: string | undefined): { status: number; reason: string; message: string; hint: string } {
  if (code === 'HPE_HEADER_OVERFLOW')
    return {
      status: 431,
      reason: 'Request Header Fields Too Large',
      message: 'the request headers are larger than the server accepts',
      hint: 'send shorter headers (and a shorter path)',
    };
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT')
    return { status: 408, reason: 'Request Timeout', message: 'the request took too long to arrive', hint: 'send the whole request at once' };
  return { status: 400, reason: 'Bad Request', message: 'the request could not be read as HTTP/1.1', hint: 'send a well-formed HTTP/1.1 request' };
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser refused the bytes (a malformed request
 * line, an invalid header, headers too large, a timeout). Answers once in our shape and
 * closes the connection, as Node's own handler does; a reset connection gets nothing.
 */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const a = clientErrorAnswer(err.code);
  const body = JSON.stringify(new EdgefleetError({ code: 'bad_request', status: a.status, message: a.message, hint: a.hint }).toBody());
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${a.status} ${a.reason}\r\ncontent-length: ${Buffer.byteLength(body)}\r\ncontent-type: application/json; charset=utf-8\r\nconnection: close\r\n\r\n${body}`,
    );
  socket.destroy();
}
