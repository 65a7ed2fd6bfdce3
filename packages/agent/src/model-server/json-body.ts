/**
 * Reads a request's JSON body under a size cap. Over the cap it answers 413 without
 * buffering the rest, so a runaway client cannot fill a Pi's memory.
 */
import type { IncomingMessage } from 'node:http';
import { OipError } from './oip-error.js';

/** The largest request body the model server reads: 8 MiB, ample for JSON tensors of edge models. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

function tooLarge(limit: number): OipError {
  return new OipError(413, `request body exceeds ${limit} bytes`);
}

/** Resolves the parsed body; rejects with an {@link OipError}: 413 over `limit`, 400 for empty or malformed JSON. */
export function readJsonBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      // Drain rather than destroy: the client then reads the 413 instead of a reset socket.
      req.resume();
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > limit) {
        // A chunked body gives no length up front; stop keeping it the moment it passes the cap.
        over = true;
        chunks.length = 0;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (over) return;
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        reject(new OipError(400, 'the request body is empty; expected a JSON inference request'));
        return;
      }
      try {
        resolve(JSON.parse(text));
      } catch (err) {
        reject(new OipError(400, `malformed JSON: ${(err as Error).message}`));
      }
    });
  });
}
