import { type DeploymentManifest, EdgefleetError, parseSelector } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { assertManifestInScope, assertSiteLabelUntouched, deploymentInScope, FLEET_WIDE, nodeInScope, selectorWithinSites } from '../../src/auth/scope.js';

const scoped = { sites: ['store-12', 'store-13'] };

function manifest(selector: DeploymentManifest['spec']['selector']): DeploymentManifest {
  return {
    apiVersion: 'edgefleet.dev/v1',
    kind: 'Deployment',
    metadata: { name: 'd' },
    spec: { selector, release: { version: '1', model: { artifact: `sha256:${'a'.repeat(64)}`, format: 'onnx' } } },
  } as DeploymentManifest;
}

function thrown(f: () => void): EdgefleetError {
  try {
    f();
  } catch (err) {
    if (err instanceof EdgefleetError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('what "reaches other sites" means', () => {
  it('accepts a selector that pins geolocation.site to some of the sites, whatever else it says', () => {
    for (const text of [
      'geolocation.site=store-12',
      'geolocation.site==store-13',
      'geolocation.site in (store-12,store-13)',
      'cpu.arch=arm64,geolocation.site in (store-12)',
      // Two site requirements: the intersection is still inside.
      'geolocation.site in (store-12,store-99),geolocation.site=store-12',
    ]) {
      expect(selectorWithinSites(parseSelector(text), scoped.sites), text).toBe(true);
    }
  });

  it('refuses anything that can select a node of another site', () => {
    for (const text of [
      '',
      'cpu.arch=arm64',
      'geolocation.site',
      'geolocation.site!=store-99',
      'geolocation.site notin (store-99)',
      'geolocation.site in (store-12,store-99)',
      '!geolocation.site',
    ]) {
      expect(selectorWithinSites(parseSelector(text), scoped.sites), text).toBe(false);
    }
  });

  it('reads matchLabels and matchExpressions the same way', () => {
    expect(deploymentInScope(scoped, { spec: manifest({ matchLabels: { 'geolocation.site': 'store-12' } }).spec })).toBe(true);
    expect(
      deploymentInScope(scoped, {
        spec: manifest({ matchExpressions: [{ key: 'geolocation.site', operator: 'In', values: ['store-13'] }] }).spec,
      }),
    ).toBe(true);
    expect(deploymentInScope(scoped, { spec: manifest({ matchLabels: { 'cpu.arch': 'arm64' } }).spec })).toBe(false);
    expect(deploymentInScope(FLEET_WIDE, { spec: manifest('cpu.arch=arm64').spec })).toBe(true);
  });

  it('refuses an apply out of scope with 403, the rule and a selector that would do', () => {
    const err = thrown(() => assertManifestInScope(scoped, manifest('cpu.arch=arm64'), 'app.yaml:1'));
    expect(err).toMatchObject({ status: 403, code: 'forbidden', field: 'spec.selector' });
    expect(err.message).toContain('app.yaml:1');
    expect(err.message).toContain('outside your sites (store-12,store-13)');
    expect(err.hint).toContain('geolocation.site in (store-12,store-13)');
    expect(() => assertManifestInScope(FLEET_WIDE, manifest('cpu.arch=arm64'), 'x')).not.toThrow();
  });
});

describe('which nodes a scoped token sees', () => {
  it('goes by the site an operator (or the bootstrap token) set, never by what the node reports', () => {
    expect(nodeInScope(scoped, { operatorLabels: { 'geolocation.site': 'store-12' } })).toBe(true);
    expect(nodeInScope(scoped, { operatorLabels: { 'geolocation.site': 'store-99' } })).toBe(false);
    expect(nodeInScope(scoped, { operatorLabels: {} })).toBe(false);
    expect(nodeInScope(FLEET_WIDE, { operatorLabels: {} })).toBe(true);
  });

  it('never lets a scoped token move a node to another site', () => {
    expect(thrown(() => assertSiteLabelUntouched(scoped, { 'geolocation.site': 'store-99' }, []))).toMatchObject({ status: 403 });
    expect(thrown(() => assertSiteLabelUntouched(scoped, {}, ['geolocation.site']))).toMatchObject({ status: 403 });
    expect(() => assertSiteLabelUntouched(scoped, { shelf: 'b' }, ['rack'])).not.toThrow();
    expect(() => assertSiteLabelUntouched(FLEET_WIDE, { 'geolocation.site': 'x' }, [])).not.toThrow();
  });
});
