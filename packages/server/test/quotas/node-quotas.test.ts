import { describe, expect, it } from 'vitest';
import { DEFAULT_NODE_QUOTAS, NodeQuotas, nodeQuotaLimits } from '../../src/quotas/node-quotas.js';

describe('NodeQuotas', () => {
  it('counts refusals per node and kind, and logs at most once per node and kind every 10 minutes', () => {
    const warnings: Array<{ fields: object; message: string }> = [];
    let now = 0;
    const quotas = new NodeQuotas({}, { warn: ((fields: object, message: string) => warnings.push({ fields, message })) as never }, () => now);
    const node = { id: 'n1', name: 'edge-1' };
    quotas.refused(node, 'series', 5, 'too many series');
    quotas.refused(node, 'series', 3, 'too many series');
    quotas.refused(node, 'log-bytes', 100, 'over budget');
    quotas.refused({ id: 'n2', name: 'edge-2' }, 'series', 1, 'too many series');
    expect(quotas.refusedFor('n1')).toEqual({ series: 8, 'log-bytes': 100 });
    expect(quotas.refusedTotal('series')).toBe(9);
    expect(warnings.map((w) => w.message)).toEqual([
      'node quota exceeded: too many series',
      'node quota exceeded: over budget',
      'node quota exceeded: too many series',
    ]);
    now += 10 * 60_000;
    quotas.refused(node, 'series', 1, 'too many series');
    expect(warnings.at(-1)?.fields).toEqual({ node: 'edge-1', quota: 'series', refusedTotal: 9 });
  });

  it('takes defaults for what is not given and refuses limits that are not whole numbers of at least 1', () => {
    expect(nodeQuotaLimits({ seriesPerNode: 10 })).toEqual({ ...DEFAULT_NODE_QUOTAS, seriesPerNode: 10 });
    expect(DEFAULT_NODE_QUOTAS.logBytesPerDay).toBe(64 * 1024 * 1024);
    expect(() => nodeQuotaLimits({ alertsPerNode: 0 })).toThrow(/alertsPerNode must be a whole number of at least 1/);
    expect(() => nodeQuotaLimits({ logBytesPerDay: 1.5 })).toThrow(/logBytesPerDay/);
  });
});
