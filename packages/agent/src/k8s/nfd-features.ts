import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Labels } from '@edgefleet/protocol';
import { writeFileDurable } from '@edgefleet/protocol/node';

/**
 * The node's labels as a Node Feature Discovery (NFD) local-source feature file, so that
 * NFD's worker labels the Kubernetes node the way edgefleet labels the node.
 *
 * NFD's local source reads every file in `/etc/kubernetes/node-feature-discovery/features.d/`
 * (skipping names that start with a dot) at each of its passes, one `name=value` per line;
 * `#` starts a comment. Naming, decided here and used by `edgefleet export k8s`:
 * - a label without a prefix, `ai.accelerator=hailo8l`, is written with NFD's own namespace
 *   and an `edgefleet-` name prefix: `feature.node.kubernetes.io/edgefleet-ai.accelerator=hailo8l`.
 *   The namespace is written out rather than left to NFD's auto-prefix, so the name stays the
 *   same when NFD's `DisableAutoPrefix` gate is on; `edgefleet-` keeps our names apart from
 *   NFD's own features (`feature.node.kubernetes.io/cpu-…`).
 * - a label with a prefix (`example.com/zone`, from `--label`) keeps it: it is already in
 *   its owner's namespace, which NFD allows unless it is a `kubernetes.io` one.
 * - labels that cannot become node labels (the name would pass 63 characters, or a
 *   `kubernetes.io`/`k8s.io` namespace NFD refuses) are left out and reported.
 */

/** The folder NFD's local source reads. */
export const NFD_FEATURES_DIR = '/etc/kubernetes/node-feature-discovery/features.d';
/** The agent's feature file in it. */
export const DEFAULT_NFD_FEATURES_FILE = `${NFD_FEATURES_DIR}/edgefleet`;
/** NFD's namespace for feature labels. */
export const NFD_LABEL_NAMESPACE = 'feature.node.kubernetes.io';
/** Before every unprefixed edgefleet label name in that namespace. */
export const NFD_NAME_PREFIX = 'edgefleet-';

const MAX_NAME = 63;
const HEADER = '# Written by the edgefleet agent from the labels it reports; rewritten when they change, so do not edit.\n';

/**
 * The Kubernetes node label NFD makes from an edgefleet label key, or undefined when the
 * key cannot become one (see the module comment).
 */
export function nfdLabelName(key: string): string | undefined {
  const slash = key.indexOf('/');
  if (slash === -1) {
    const name = `${NFD_NAME_PREFIX}${key}`;
    return name.length > MAX_NAME ? undefined : `${NFD_LABEL_NAMESPACE}/${name}`;
  }
  const prefix = key.slice(0, slash);
  const kubernetesOwned = ['kubernetes.io', 'k8s.io'].some((ns) => prefix === ns || prefix.endsWith(`.${ns}`));
  return kubernetesOwned ? undefined : key;
}

/** A feature file's text and the label keys left out of it. */
export interface NfdFeatureFile {
  text: string;
  skipped: string[];
}

/** The feature file for a label set: a header comment, then one `name=value` line per label, sorted. */
export function nfdFeatureFile(labels: Labels): NfdFeatureFile {
  const lines: string[] = [];
  const skipped: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const name = nfdLabelName(key);
    if (name === undefined) skipped.push(key);
    else lines.push(`${name}=${value}`);
  }
  lines.sort();
  return { text: HEADER + lines.map((l) => `${l}\n`).join(''), skipped: skipped.sort() };
}

/**
 * Which feature file the agent writes: `--nfd-features-file off` none, a path that path,
 * and by default {@link DEFAULT_NFD_FEATURES_FILE} only when its folder exists (NFD is
 * installed), so nodes without Kubernetes get no stray folder.
 */
export function resolveNfdFeaturesFile(flag: string | undefined, dirExists: (dir: string) => boolean = isDirectory): string | undefined {
  if (flag === 'off') return undefined;
  if (flag !== undefined) return flag;
  return dirExists(NFD_FEATURES_DIR) ? DEFAULT_NFD_FEATURES_FILE : undefined;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Keeps the feature file in step with the node's labels: {@link sync} rewrites it only when
 * its text would change (a label added, changed or gone), so NFD and the disk are not
 * touched at every heartbeat, and a restarted agent that reports the same labels leaves the
 * file alone.
 */
export class NfdFeatureWriter {
  private written: string | undefined;

  constructor(readonly path: string) {}

  /** Writes the file for `labels` when it differs from what is there; returns what changed. */
  sync(labels: Labels): { written: boolean; skipped: string[] } {
    const { text, skipped } = nfdFeatureFile(labels);
    if (this.written === undefined) this.written = readIfPresent(this.path);
    if (text === this.written) return { written: false, skipped };
    // A dot-file temp: NFD reads every file in the folder whose name does not start with a dot.
    writeFileDurable(this.path, text, 0o644, { hiddenTemp: true });
    this.written = text;
    return { written: true, skipped };
  }
}

/** The part of a logger {@link nfdFeatureSync} uses. */
interface FeatureLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * The agent's hook for each observation's labels: syncs the file and logs what happened. A
 * failed write (read-only folder, disk full) never stops the agent: it is logged once per
 * distinct error and tried again at the next observation.
 */
export function nfdFeatureSync(writer: NfdFeatureWriter, log: FeatureLog): (labels: Labels) => void {
  let lastError: string | undefined;
  return (labels) => {
    try {
      const { written, skipped } = writer.sync(labels);
      lastError = undefined;
      if (written) log.info({ file: writer.path, skipped }, `wrote the NFD feature file ${writer.path}`);
    } catch (err) {
      const message = (err as Error).message;
      if (message !== lastError) log.warn({ file: writer.path }, `cannot write the NFD feature file: ${message}`);
      lastError = message;
    }
  };
}

function readIfPresent(path: string): string | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
