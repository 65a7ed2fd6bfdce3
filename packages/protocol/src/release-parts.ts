/**
 * What a release is made of, for code that must not care which runtime it names: the
 * artifacts a node downloads (models) and the images it pulls, for the primary and the
 * fallback. One place, so the server's download rules, the agent's planner and the
 * simulator agree.
 */
import { type ImageReference, parseImageReference } from './image-ref.js';
import type { Fallback, Release } from './manifest.js';

/** Which of a release's two workloads. */
export type ReleasePart = 'primary' | 'fallback';

/** The model artifact (`sha256:…`) of the primary or the fallback, if that part is a model. */
export function artifactOfPart(release: Release, part: ReleasePart): string | undefined {
  if (part === 'primary') return release.model?.artifact;
  const f = release.fallback;
  return f !== undefined && 'artifact' in f ? f.artifact : undefined;
}

/** The image (as written) of the primary or the fallback, if that part is a container. */
export function imageOfPart(release: Release, part: ReleasePart): string | undefined {
  if (part === 'primary') return release.runtime.kind === 'container' ? release.runtime.image : undefined;
  const f = release.fallback;
  return f !== undefined && 'kind' in f && f.kind === 'container' ? f.image : undefined;
}

/** Every model artifact the release names (primary first), without repeats. */
export function releaseArtifacts(release: Release): string[] {
  const out: string[] = [];
  for (const part of ['primary', 'fallback'] as const) {
    const a = artifactOfPart(release, part);
    if (a !== undefined && !out.includes(a)) out.push(a);
  }
  return out;
}

/** Every image the release names (primary first), parsed, without repeats. */
export function releaseImages(release: Release): ImageReference[] {
  const out: ImageReference[] = [];
  for (const part of ['primary', 'fallback'] as const) {
    const text = imageOfPart(release, part);
    if (text === undefined) continue;
    const ref = parseImageReference(text);
    if (!out.some((o) => o.registry === ref.registry && o.repository === ref.repository && o.digest === ref.digest)) out.push(ref);
  }
  return out;
}

/** Whether the release has a fallback of any kind. */
export function hasFallback(release: Release): release is Release & { fallback: Fallback } {
  return release.fallback !== undefined;
}
