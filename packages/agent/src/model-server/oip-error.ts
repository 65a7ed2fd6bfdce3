/**
 * The one error type of the model server's HTTP surface. The protocol answers every failure
 * with `{"error": message}`; the status says whose fault it was.
 */

/** A request the server refuses, with the HTTP status to answer and a message safe to show the caller. */
export class OipError extends Error {
  constructor(
    readonly status: 400 | 404 | 405 | 413 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'OipError';
  }
}
