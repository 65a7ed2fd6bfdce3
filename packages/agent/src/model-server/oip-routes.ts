/**
 * The Open Inference Protocol's REST paths, matched as a pure function so the HTTP layer
 * dispatches on a closed union and the compiler checks that every route is handled.
 */
import { OipError } from './oip-error.js';

/** Which model a per-model path names; `version` only when the path has `/versions/<v>`. */
export interface ModelRef {
  model: string;
  version?: string;
}

/** A matched protocol endpoint. */
export type OipRoute =
  | { kind: 'server-metadata' }
  | { kind: 'server-live' }
  | { kind: 'server-ready' }
  | ({ kind: 'model-metadata' } & ModelRef)
  | ({ kind: 'model-ready' } & ModelRef)
  | ({ kind: 'infer' } & ModelRef);

/** The HTTP method each endpoint answers; the protocol has exactly one per path. */
export const ROUTE_METHOD: Readonly<Record<OipRoute['kind'], 'GET' | 'POST'>> = {
  'server-metadata': 'GET',
  'server-live': 'GET',
  'server-ready': 'GET',
  'model-metadata': 'GET',
  'model-ready': 'GET',
  infer: 'POST',
};

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new OipError(400, `malformed percent-encoding in path segment '${segment}'`);
  }
}

/** Matches a request path (without query) to an endpoint, or undefined when none fits. */
export function matchOipRoute(pathname: string): OipRoute | undefined {
  // One trailing slash is tolerated: clients disagree on it and it never changes meaning here.
  const parts = pathname.replace(/\/$/, '').split('/').slice(1);
  if (parts[0] !== 'v2') return undefined;
  const rest = parts.slice(1);
  if (rest.length === 0) return { kind: 'server-metadata' };
  if (rest[0] === 'health' && rest.length === 2) {
    if (rest[1] === 'live') return { kind: 'server-live' };
    if (rest[1] === 'ready') return { kind: 'server-ready' };
    return undefined;
  }
  if (rest[0] !== 'models' || rest[1] === undefined || rest[1] === '') return undefined;
  let ref: ModelRef = { model: decode(rest[1]) };
  let tail = rest.slice(2);
  if (tail[0] === 'versions') {
    if (tail[1] === undefined || tail[1] === '') return undefined;
    ref = { ...ref, version: decode(tail[1]) };
    tail = tail.slice(2);
  }
  if (tail.length === 0) return { kind: 'model-metadata', ...ref };
  if (tail.length === 1 && tail[0] === 'ready') return { kind: 'model-ready', ...ref };
  if (tail.length === 1 && tail[0] === 'infer') return { kind: 'infer', ...ref };
  return undefined;
}
