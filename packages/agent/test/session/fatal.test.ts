import { EdgefleetError, ERROR_CODES, type ErrorCode, errors } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { afterFailure, isDecommission, isFatal, WAIT_WITHOUT_RETRY_AFTER_MS } from '../../src/session/fatal.js';

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
  // Its own request crossed its renewal: the next one carries the new certificate.
  certificate_superseded: 'back off',
  certificate_expired: 'stop',
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

  it('once enrolled, stops only for a decommission; any other refusal is asked again at the cap, workloads serving', () => {
    const enrolled = { enrolled: true };
    const atCap = { action: 'retry', delayMs: 300_000, countsAsFailure: true };
    // The operator deleted the node or revoked its certificate: stop.
    expect(afterFailure(errors.certificateRevoked('revoked', 'h'), 3, half, enrolled)).toEqual({ action: 'stop' });
    expect(isDecommission(errors.certificateRevoked('revoked', 'h'))).toBe(true);
    // A server that does not know the certificate (restored backup), refuses it (expired),
    // or that the node does not trust: the node keeps serving and asks again in 2.5–7.5 minutes.
    for (const refusal of [
      errors.clientCertificateRequired('the client certificate is not known to this fleet', 'h'),
      errors.clientCertificateRequired('the client certificate has expired', 'h'),
      // Past the renewal grace: the operator runs `nodes reenroll`; until then it serves.
      errors.certificateExpired('past the 30 days of grace', 'h'),
      errors.unauthenticated('who are you', 'h'),
      errors.forbidden('not yours', 'h'),
      errors.serverUntrusted('other CA', 'h'),
      errors.badRequest('invalid body: facts', 'h'),
    ]) {
      expect(afterFailure(refusal, 3, half, enrolled)).toEqual(atCap);
      expect(isDecommission(refusal)).toBe(false);
    }
    // Before enrollment the same answers stop, so first boot shows what to fix.
    expect(afterFailure(errors.badRequest('invalid body: facts', 'h'), 3, half)).toEqual({ action: 'stop' });
    expect(afterFailure(errors.clientCertificateRequired('none', 'h'), 3, half)).toEqual({ action: 'stop' });
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
