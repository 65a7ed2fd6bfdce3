/** Reading a deployment's view: the few things the pages show of its spec and status. */
import { formatSelector, selectorFromMatch } from '@edgefleet/protocol';
import { shortDigest } from './format.js';
import type { DeploymentView } from './types.js';

/** The selector as kubectl would write it. */
export function selectorText(spec: Pick<DeploymentView['spec'], 'selector'>): string {
  const s = spec.selector;
  if (typeof s === 'string') return s === '' ? '(every node)' : s;
  try {
    const text = formatSelector(selectorFromMatch(s));
    return text === '' ? '(every node)' : text;
  } catch {
    return JSON.stringify(s);
  }
}

/** Whether the deployment rolls out in stages. */
export function hasRollout(d: DeploymentView): boolean {
  return d.spec.rollout !== undefined;
}

/** The release's version string, if any. */
export function releaseVersion(spec: DeploymentView['spec']): string {
  return spec.release.version;
}

/** The status condition of a type, if present. */
export function condition(d: DeploymentView, type: string): { status: string; reason: string; message: string } | undefined {
  return d.status.conditions.find((c) => c.type === type);
}

/** How many nodes are in each state on each revision ("5 running r2", "1 running r1"), most common first. */
export function stateCounts(d: DeploymentView): Array<{ label: string; count: number }> {
  const m = new Map<string, number>();
  for (const n of d.status.nodes) {
    const label = n.revision === null ? n.state : `${n.state} r${n.revision}`;
    m.set(label, (m.get(label) ?? 0) + 1);
  }
  return [...m].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count || a.label.localeCompare(b.label));
}

/** Nodes serving the current revision (running, or degraded on the fallback). */
export function servingCount(d: DeploymentView): number {
  return d.status.nodes.filter((n) => n.revision === d.status.revision && (n.state === 'running' || n.state === 'degraded')).length;
}

/**
 * What a release runs as its primary or fallback, for a table cell: a model (digest and
 * format), a container image (repository and digest) or a process (its command). Null: none.
 */
export function releasePart(release: DeploymentView['spec']['release'], part: 'primary' | 'fallback'): { text: string; detail: string; title: string } | null {
  if (part === 'primary') {
    if (release.runtime.kind === 'container' && release.runtime.image !== undefined) return imagePart(release.runtime.image);
    if (release.runtime.kind === 'process' && release.model === undefined)
      return { text: release.runtime.command ?? '', detail: 'process', title: release.runtime.command ?? '' };
    return release.model === undefined ? null : { text: shortDigest(release.model.artifact), detail: release.model.format, title: release.model.artifact };
  }
  const f = release.fallback;
  if (f === undefined) return null;
  if ('artifact' in f) return { text: shortDigest(f.artifact), detail: f.format, title: f.artifact };
  if (f.kind === 'container') return imagePart(f.image);
  return { text: f.command, detail: 'process', title: f.command };
}

function imagePart(image: string): { text: string; detail: string; title: string } {
  const at = image.indexOf('@');
  const name = image.slice(0, at).split('/').slice(1).join('/');
  return { text: `${name}@${shortDigest(image.slice(at + 1))}`, detail: 'image', title: image };
}
