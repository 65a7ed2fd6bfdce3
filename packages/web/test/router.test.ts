import { describe, expect, it } from 'vitest';
import { parseRoute, type Route, routePath } from '../src/router.js';

describe('routes', () => {
  it('round-trips every page through its path', () => {
    const routes: Route[] = [
      { page: 'overview' },
      { page: 'nodes' },
      { page: 'nodes', selector: 'geolocation.site=north,ai.accelerator in (hailo8)' },
      { page: 'node', ref: 'edge-0001' },
      { page: 'deployments' },
      { page: 'deployment', name: 'detect' },
      { page: 'rollout', name: 'detect' },
      { page: 'events' },
    ];
    for (const r of routes) {
      const [path, search] = routePath(r).split('?');
      expect(parseRoute(path ?? '', search === undefined ? '' : `?${search}`)).toEqual(r);
    }
  });

  it('decodes names and knows what it does not know', () => {
    expect(parseRoute('/nodes/edge%20one')).toEqual({ page: 'node', ref: 'edge one' });
    expect(parseRoute('/deployments/detect/rollout/extra')).toEqual({ page: 'not-found', path: '/deployments/detect/rollout/extra' });
    expect(parseRoute('/nodes/%E0%A4%A')).toEqual({ page: 'node', ref: '%E0%A4%A' });
  });
});
