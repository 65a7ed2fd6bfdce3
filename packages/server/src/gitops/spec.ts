import { isAbsolute } from 'node:path';
import type { SourceView } from '@edgefleet/protocol';
import { badRequest, formatDuration, parseDuration } from '@edgefleet/protocol';
import type { SourceRecord } from '../store/index.js';

export type { SourceView };

import { isRemoteUrl, redactUrl } from './repository.js';

/** What `POST /v1/sources` takes (already shape-checked by the route). */
export interface SourceRequest {
  name: string;
  url: string;
  branch?: string | undefined;
  path?: string | undefined;
  interval?: string | undefined;
}

/** The validated spec of a source. */
export type SourceSpec = Pick<SourceRecord, 'name' | 'url' | 'branch' | 'path' | 'intervalMs'>;

const DEFAULT_BRANCH = 'main';
const DEFAULT_PATH = 'fleet';
const DEFAULT_INTERVAL_MS = 30_000;
/** Polling more often than this only loads the git host. */
const MIN_INTERVAL_MS = 5_000;
const MAX_INTERVAL_MS = 86_400_000;

/** Source names are DNS labels: they name `DATA/sources/NAME`, so they can never escape it. */
const NAME = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** A branch name as git allows it, minus the corner cases nobody uses on purpose. */
const BRANCH = /^(?![-/])(?!.*(?:\.\.|@\{|\/\/|\/\.|\.lock$|\/$))[A-Za-z0-9._/-]{1,200}$/;

/**
 * Checks and normalises a request: a name that is a DNS label; an http(s) URL or an
 * absolute path (or `file://` URL) on the server's disk; a branch; a path inside the
 * repository ('.' for its root, stored without leading `./` or trailing `/`); an interval
 * between 5s and 24h. Every refusal names the field.
 */
export function validateSourceRequest(req: SourceRequest): SourceSpec {
  if (!NAME.test(req.name)) {
    throw badRequest(`invalid source name "${req.name}"`, 'use lower-case letters, digits and "-", at most 63 characters (like "fleet-main")', 'name');
  }
  const url = req.url.trim();
  if (isRemoteUrl(url)) {
    try {
      new URL(url);
    } catch {
      throw badRequest(`invalid URL "${redactUrl(url)}"`, 'write https://HOST/OWNER/REPO.git', 'url');
    }
  } else if (url.startsWith('file://')) {
    if (!url.startsWith('file:///')) throw badRequest(`invalid file URL "${url}"`, 'write file:///ABSOLUTE/PATH or just the absolute path', 'url');
  } else if (!isAbsolute(url)) {
    throw badRequest(
      `"${url}" is neither an http(s) URL nor an absolute path`,
      /^[\w.-]+@[\w.-]+:/.test(url) || url.startsWith('ssh://')
        ? 'the server fetches over http(s) only: use the https URL of the repository'
        : 'give an https URL, or the absolute path of a repository on the server host',
      'url',
    );
  }
  const branch = req.branch ?? DEFAULT_BRANCH;
  if (!BRANCH.test(branch)) throw badRequest(`invalid branch "${branch}"`, 'give a branch name such as main or release/v2', 'branch');
  const interval = req.interval === undefined ? DEFAULT_INTERVAL_MS : parseDuration(req.interval, 'interval');
  if (interval < MIN_INTERVAL_MS || interval > MAX_INTERVAL_MS) {
    throw badRequest(`interval ${req.interval} is out of range`, 'give an interval between 5s and 24h', 'interval');
  }
  return { name: req.name, url, branch, path: normaliseRepoPath(req.path ?? DEFAULT_PATH), intervalMs: interval };
}

/** `./fleet/` → `fleet`, `/` or `` → `.`; refuses `..` so a path always stays inside the repository. */
export function normaliseRepoPath(path: string): string {
  const parts = path
    .replace(/\\/g, '/')
    .split('/')
    .filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw badRequest(`invalid path "${path}"`, 'give a folder inside the repository, such as fleet/ or clusters/prod', 'path');
  return parts.length === 0 ? '.' : parts.join('/');
}

/** The API view of a source record. */
export function sourceView(s: SourceRecord): SourceView {
  return {
    name: s.name,
    url: redactUrl(s.url),
    branch: s.branch,
    path: s.path,
    interval: formatDuration(s.intervalMs),
    lastAppliedRevision: s.lastAppliedRevision,
    lastAttemptedRevision: s.lastAttemptedRevision,
    conditions: s.conditions,
    lastSyncAt: s.updatedAt === null ? null : new Date(s.updatedAt).toISOString(),
  };
}
