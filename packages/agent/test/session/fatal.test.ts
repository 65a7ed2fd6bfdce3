import { EdgefleetError, ERROR_CODES, type ErrorCode, errors } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { afterFailure, isFatal, WAIT_WITHOUT_RETRY_AFTER_MS } from '../../src/session/fatal.js';

/**
 * What the agent does for every code in the closed table. A `Record` over `ErrorCode`: a
 * new code does not type-check here until someone decides how a node reacts to it.
 */
const DECISION: Record<ErrorCode, 'stop' | 'back off' | 'wait'> = {
  bad_request: 'stop',
  invalid_label: 'stop',
  invalid_selector: 'stop',
  invalid_csr: 'stop',
  invalid_manifest: 'stop',
  payload_too_large: 'stop',
  unsupported_media_type: 'stop',
  range_not_satisfiable: 'stop',
  unauthenticated: 'stop',
  client_certificate_required: 'stop',
  token_invalid: 'stop',
  token_expired: 'stop',
  token_exhausted: 'stop',
  certificate_revoked: 'stop',
  forbidden: 'stop',
  not_found: 'stop',
  conflict: 'stop',
  no_rollout: 'stop',
  contended: 'back off',
  source_not_ready: 'wait',
  overloaded: 'back off',
  quota_exceeded: 'back off',
  internal: 'back off',
  unexpected_response: 'back off',
  digest_mismatch: 'back off',
  unavailable: 'back off',
  download_failed: 'back off',
  insufficient_storage: 'wait',
  disk_full: 'wait',
  unreachable: 'back off',
  server_untrusted: 'stop',
  config: 'stop',
  startup_failed: 'stop',
};

const half = () => 0.5;

describe('afterFailure', () => {
  it('has a decision for every code in the table, and no other', () => {
    expect(Object.keys(DECISION).sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it.each(Object.entries(DECISION) as Array<[ErrorCode, string]>)('%s: %s', (code, decision) => {
    const err = new EdgefleetError({ code, message: 'm', hint: 'h' });
    const next = afterFailure(err, 3, half);
    expect(isFatal(err)).toBe(decision === 'stop');
    if (decision === 'stop') expect(next).toEqual({ action: 'stop' });
    // Full jitter up to min(5 min, 1 s · 2^3) = 8 s; a draw of 0.5 gives 4 s.
    if (decision === 'back off') expect(next).toEqual({ action: 'retry', delayMs: 4_000, countsAsFailure: true });
    if (decision === 'wait') expect(next).toEqual({ action: 'retry', delayMs: WAIT_WITHOUT_RETRY_AFTER_MS * 1.5, countsAsFailure: false });
  });

  it('once enrolled, stops only for identity and trust; a refused request is asked again at the cap', () => {
    const enrolled = { enrolled: true };
    // The server refused the node's certificate, or the node refused the server: stop.
    expect(afterFailure(errors.certificateRevoked('revoked', 'h'), 3, half, enrolled)).toEqual({ action: 'stop' });
    expect(afterFailure(errors.clientCertificateRequired('none', 'h'), 3, half, enrolled)).toEqual({ action: 'stop' });
    expect(afterFailure(errors.serverUntrusted('other CA', 'h'), 3, half, enrolled)).toEqual({ action: 'stop' });
    // A newer server refusing a heartbeat body: keep serving, ask again in 2.5–7.5 minutes.
    const refused = afterFailure(errors.badRequest('invalid body: facts', 'h'), 3, half, enrolled);
    expect(refused).toEqual({ action: 'retry', delayMs: 300_000, countsAsFailure: true });
    // Before enrollment the same answer stops, so first boot shows what to fix.
    expect(afterFailure(errors.badRequest('invalid body: facts', 'h'), 3, half)).toEqual({ action: 'stop' });
  });

  it('backs off on anything that is not an EdgefleetError (a bug, an unwrapped socket error)', () => {
    expect(afterFailure(new Error('ECONNRESET'), 0, half)).toEqual({ action: 'retry', delayMs: 500, countsAsFailure: true });
    expect(isFatal(new Error('x'))).toBe(false);
  });

  it("waits at least the server's Retry-After, spread by up to as much again", () => {
    const busy = new EdgefleetError({ code: 'overloaded', message: 'm', hint: 'h', retryAfterMs: 30_000 });
    expect(afterFailure(busy, 0, half)).toEqual({ action: 'retry', delayMs: 45_000, countsAsFailure: true });
    // A long backoff (capped at 5 min) wins over a short Retry-After.
    const brief = new EdgefleetError({ code: 'unavailable', message: 'm', hint: 'h', retryAfterMs: 1_000 });
    expect(afterFailure(brief, 10, half)).toEqual({ action: 'retry', delayMs: 150_000, countsAsFailure: true });
  });

  it('asks again after Retry-After when a wait answer gives one', () => {
    const full = new EdgefleetError({ code: 'insufficient_storage', message: 'm', hint: 'h', retryAfterMs: 10_000 });
    expect(afterFailure(full, 7, () => 0)).toEqual({ action: 'retry', delayMs: 10_000, countsAsFailure: false });
  });
});
