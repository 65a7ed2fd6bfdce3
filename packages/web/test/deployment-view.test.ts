import { ReleaseSchema } from '@edgefleet/protocol';
import { describe, expect, it } from 'vitest';
import { releasePart } from '../src/deployment-view.js';

const A = `sha256:${'a'.repeat(64)}`;
const IMG = `registry.example:5000/team/detector@sha256:${'b'.repeat(64)}`;

describe('what a revision runs, for the revisions table', () => {
  it('names a model by digest and format, an image by repository and digest, a process by its command', () => {
    const model = ReleaseSchema.parse({ version: '1', model: { artifact: A, format: 'hef' }, fallback: { artifact: A, format: 'onnx' } });
    expect(releasePart(model, 'primary')).toEqual({ text: 'sha256:aaaaaaaa…aaaa', detail: 'hef', title: A });
    expect(releasePart(model, 'fallback')).toMatchObject({ detail: 'onnx' });
    const container = ReleaseSchema.parse({
      version: '2',
      runtime: { kind: 'container', image: IMG },
      fallback: { kind: 'process', command: '/opt/cpu-serve' },
    });
    expect(releasePart(container, 'primary')).toEqual({ text: 'team/detector@sha256:bbbbbbbb…bbbb', detail: 'image', title: IMG });
    expect(releasePart(container, 'fallback')).toEqual({ text: '/opt/cpu-serve', detail: 'process', title: '/opt/cpu-serve' });
    expect(releasePart(ReleaseSchema.parse({ version: '3', runtime: { kind: 'process', command: '/bin/serve' } }), 'fallback')).toBeNull();
  });
});
