import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_NFD_FEATURES_FILE,
  NFD_FEATURES_DIR,
  NfdFeatureWriter,
  nfdFeatureFile,
  nfdFeatureSync,
  nfdLabelName,
  resolveNfdFeaturesFile,
} from '../../src/k8s/nfd-features.js';

describe('NFD label names', () => {
  it.each([
    ['ai.accelerator', 'feature.node.kubernetes.io/edgefleet-ai.accelerator'],
    ['geolocation.site', 'feature.node.kubernetes.io/edgefleet-geolocation.site'],
    ['example.com/zone', 'example.com/zone'],
    // The name part may have 63 characters: 53 + "edgefleet-" fits, 54 does not.
    ['a'.repeat(53), `feature.node.kubernetes.io/edgefleet-${'a'.repeat(53)}`],
    ['a'.repeat(54), undefined],
    ['node.kubernetes.io/role', undefined],
    ['kubernetes.io/arch', undefined],
    ['x.k8s.io/y', undefined],
  ])('%s → %s', (key, name) => {
    expect(nfdLabelName(key)).toBe(name);
  });
});

describe('the feature file', () => {
  it('has one sorted name=value line per label after a comment, and lists what it left out', () => {
    const file = nfdFeatureFile({ 'memory.gb': '8', 'ai.accelerator': 'hailo8l', 'hardware.ai-hat': 'true', 'kubernetes.io/arch': 'arm64', empty: '' });
    expect(file.text.split('\n')).toEqual([
      expect.stringMatching(/^# Written by the edgefleet agent/),
      'feature.node.kubernetes.io/edgefleet-ai.accelerator=hailo8l',
      'feature.node.kubernetes.io/edgefleet-empty=',
      'feature.node.kubernetes.io/edgefleet-hardware.ai-hat=true',
      'feature.node.kubernetes.io/edgefleet-memory.gb=8',
      '',
    ]);
    expect(file.skipped).toEqual(['kubernetes.io/arch']);
  });
});

describe('which file the agent writes', () => {
  it('is none with "off", the flag\'s path when given, else the default only where NFD\'s folder exists', () => {
    expect(resolveNfdFeaturesFile('off', () => true)).toBeUndefined();
    expect(resolveNfdFeaturesFile('/tmp/x/features', () => false)).toBe('/tmp/x/features');
    expect(resolveNfdFeaturesFile(undefined, (d) => d === NFD_FEATURES_DIR)).toBe(DEFAULT_NFD_FEATURES_FILE);
    expect(resolveNfdFeaturesFile(undefined, () => false)).toBeUndefined();
  });
});

describe('NfdFeatureWriter', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ef-nfd-'));
    path = join(dir, 'edgefleet');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes on the first sync, not again for the same labels, and drops labels no longer reported', () => {
    const writer = new NfdFeatureWriter(path);
    expect(writer.sync({ 'ai.accelerator': 'hailo8l', 'hardware.ai-hat': 'true' }).written).toBe(true);
    const first = statSync(path);
    expect(writer.sync({ 'hardware.ai-hat': 'true', 'ai.accelerator': 'hailo8l' }).written).toBe(false);
    expect(statSync(path).mtimeMs).toBe(first.mtimeMs);

    // The HAT is gone: its label changes, and a label the agent stopped reporting leaves the file.
    expect(writer.sync({ 'ai.accelerator': 'none' }).written).toBe(true);
    expect(readFileSync(path, 'utf8')).toContain('feature.node.kubernetes.io/edgefleet-ai.accelerator=none\n');
    expect(readFileSync(path, 'utf8')).not.toContain('hardware.ai-hat');
    expect((statSync(path).mode & 0o777).toString(8)).toBe('644');
    // Only the feature file is left in NFD's folder: the temp file was a dot-file, renamed over it.
    expect(readdirSync(dir)).toEqual(['edgefleet']);
  });

  it('leaves an identical file from an earlier run alone', () => {
    const labels = { 'ai.accelerator': 'coral-pcie' };
    writeFileSync(path, nfdFeatureFile(labels).text);
    expect(new NfdFeatureWriter(path).sync(labels).written).toBe(false);
    expect(new NfdFeatureWriter(path).sync({ 'ai.accelerator': 'hailo8' }).written).toBe(true);
  });

  it('logs a failed write once, keeps going and writes when it can', () => {
    const warnings: string[] = [];
    const infos: string[] = [];
    const sync = nfdFeatureSync(new NfdFeatureWriter(join(dir, 'missing', 'edgefleet')), { info: (_o, m) => infos.push(m), warn: (_o, m) => warnings.push(m) });
    sync({ a: '1' });
    sync({ a: '1' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot write the NFD feature file: .*ENOENT/);
    const ok = nfdFeatureSync(new NfdFeatureWriter(path), { info: (_o, m) => infos.push(m), warn: (_o, m) => warnings.push(m) });
    ok({ a: '1' });
    expect(infos).toEqual([`wrote the NFD feature file ${path}`]);
  });
});
