import { describe, expect, it } from 'vitest';
import { OipError } from '../../src/model-server/oip-error.js';
import { matchOipRoute, ROUTE_METHOD } from '../../src/model-server/oip-routes.js';

describe('matchOipRoute', () => {
  it.each([
    ['/v2', { kind: 'server-metadata' }],
    ['/v2/', { kind: 'server-metadata' }],
    ['/v2/health/live', { kind: 'server-live' }],
    ['/v2/health/ready', { kind: 'server-ready' }],
    ['/v2/models/mlp', { kind: 'model-metadata', model: 'mlp' }],
    ['/v2/models/mlp/ready', { kind: 'model-ready', model: 'mlp' }],
    ['/v2/models/mlp/infer', { kind: 'infer', model: 'mlp' }],
    ['/v2/models/mlp/versions/3', { kind: 'model-metadata', model: 'mlp', version: '3' }],
    ['/v2/models/mlp/versions/3/ready', { kind: 'model-ready', model: 'mlp', version: '3' }],
    ['/v2/models/mlp/versions/3/infer/', { kind: 'infer', model: 'mlp', version: '3' }],
    ['/v2/models/face%20detect/infer', { kind: 'infer', model: 'face detect' }],
  ])('%s', (path, route) => {
    expect(matchOipRoute(path)).toEqual(route);
  });

  it.each([
    '/',
    '/v1/models/mlp',
    '/v2/health',
    '/v2/health/startup',
    '/v2/models',
    '/v2/models/',
    '/v2/models/mlp/versions',
    '/v2/models/mlp/predict',
    '/v2/models/mlp/infer/x',
  ])('%s matches nothing', (path) => {
    expect(matchOipRoute(path)).toBeUndefined();
  });

  it('refuses malformed percent-encoding with 400', () => {
    expect(() => matchOipRoute('/v2/models/%E0%A4%A/infer')).toThrow(OipError);
  });

  it('only inference is a POST', () => {
    expect(Object.entries(ROUTE_METHOD).filter(([, m]) => m === 'POST')).toEqual([['infer', 'POST']]);
  });
});
