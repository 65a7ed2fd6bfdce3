import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rotateSessionTicketKeys, SESSION_ID_CONTEXT, sessionTicketKeys, TICKET_KEY_WINDOW_MS, ticketWindowOf } from '../../src/http/session-tickets.js';

const caKey = (): string => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('session ticket keys', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('are the same for every replica of a fleet within a window, and differ across windows and fleets', () => {
    const fleet = caKey();
    const keys = sessionTicketKeys(fleet, 1000);
    expect(keys).toHaveLength(48);
    expect(sessionTicketKeys(fleet, 1000)).toEqual(keys);
    expect(sessionTicketKeys(fleet, 1001)).not.toEqual(keys);
    expect(sessionTicketKeys(caKey(), 1000)).not.toEqual(keys);
    // The key, not its text: the same key in another encoding (SEC1 here) gives the same keys.
    const sec1 = createPrivateKey(fleet).export({ type: 'sec1', format: 'pem' }).toString();
    expect(sec1).not.toBe(fleet);
    expect(sessionTicketKeys(sec1, 1000)).toEqual(keys);
    // OpenSSL takes at most 32 bytes of session context.
    expect(Buffer.byteLength(SESSION_ID_CONTEXT)).toBeLessThanOrEqual(32);
  });

  it("follow the clock's window: set at once, then again when the next window starts", () => {
    vi.useFakeTimers();
    const fleet = caKey();
    const start = 5 * TICKET_KEY_WINDOW_MS - 60_000; // a minute before a window ends
    vi.setSystemTime(start);
    const set: Buffer[] = [];
    const stop = rotateSessionTicketKeys({ setTicketKeys: (k: Buffer) => void set.push(k) }, fleet, () => Date.now());
    expect(set).toEqual([sessionTicketKeys(fleet, ticketWindowOf(start))]);
    vi.advanceTimersByTime(59_000);
    expect(set).toHaveLength(1);
    vi.advanceTimersByTime(1_000);
    expect(set).toEqual([sessionTicketKeys(fleet, 4), sessionTicketKeys(fleet, 5)]);
    vi.advanceTimersByTime(TICKET_KEY_WINDOW_MS);
    expect(set.at(-1)).toEqual(sessionTicketKeys(fleet, 6));
    stop();
    vi.advanceTimersByTime(2 * TICKET_KEY_WINDOW_MS);
    expect(set).toHaveLength(3);
  });
});
