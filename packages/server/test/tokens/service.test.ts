import { describe, expect, it } from 'vitest';
import type { ApiTokenRecord } from '../../src/store/index.js';
import { apiTokenStillValid } from '../../src/tokens/service.js';

const token = (expiresAt: number | null): ApiTokenRecord => ({
  id: 't',
  role: 'viewer',
  name: null,
  secretHash: 'h',
  createdAt: 0,
  expiresAt,
  lastUsedAt: null,
  sites: null,
});
const storeWith = (record: ApiTokenRecord | undefined) => ({ getApiToken: async () => record });

describe('whether an open watch stream may go on', () => {
  it('ends with a deleted or expired token, goes on with a live one', async () => {
    expect(await apiTokenStillValid(storeWith(undefined), 't', 1_000)).toBe(false);
    expect(await apiTokenStillValid(storeWith(token(1_000)), 't', 1_000)).toBe(false);
    expect(await apiTokenStillValid(storeWith(token(1_001)), 't', 1_000)).toBe(true);
    expect(await apiTokenStillValid(storeWith(token(null)), 't', 1_000)).toBe(true);
  });
});
