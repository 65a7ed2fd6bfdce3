/**
 * The dashboard's pages as data, and the few lines of history routing they need. Paths are
 * real (`/nodes/edge-0001`) so they can be bookmarked and shared; the server answers every
 * page path with index.html.
 */
import { useCallback, useEffect, useState } from 'react';

export type Route =
  | { page: 'overview' }
  | { page: 'nodes'; selector?: string }
  | { page: 'node'; ref: string }
  | { page: 'deployments' }
  | { page: 'deployment'; name: string }
  | { page: 'rollout'; name: string }
  | { page: 'events' }
  | { page: 'not-found'; path: string };

/** The route of a path (and query: `/nodes?selector=…` prefills the filter). */
export function parseRoute(path: string, search = ''): Route {
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [a, b, c] = parts;
  if (parts.length === 0) return { page: 'overview' };
  if (a === 'nodes' && parts.length === 1) {
    const selector = new URLSearchParams(search).get('selector');
    return selector === null || selector === '' ? { page: 'nodes' } : { page: 'nodes', selector };
  }
  if (a === 'nodes' && b !== undefined && parts.length === 2) return { page: 'node', ref: b };
  if (a === 'deployments' && parts.length === 1) return { page: 'deployments' };
  if (a === 'deployments' && b !== undefined && parts.length === 2) return { page: 'deployment', name: b };
  if (a === 'deployments' && b !== undefined && c === 'rollout' && parts.length === 3) return { page: 'rollout', name: b };
  if (a === 'events' && parts.length === 1) return { page: 'events' };
  return { page: 'not-found', path };
}

/** The path of a route. */
export function routePath(route: Route): string {
  const e = encodeURIComponent;
  switch (route.page) {
    case 'overview':
      return '/';
    case 'nodes':
      return route.selector === undefined ? '/nodes' : `/nodes?selector=${e(route.selector)}`;
    case 'node':
      return `/nodes/${e(route.ref)}`;
    case 'deployments':
      return '/deployments';
    case 'deployment':
      return `/deployments/${e(route.name)}`;
    case 'rollout':
      return `/deployments/${e(route.name)}/rollout`;
    case 'events':
      return '/events';
    case 'not-found':
      return route.path;
  }
}

/** Moves to a path without a reload and tells `useRoute` listeners. */
export function navigate(path: string): void {
  if (path === `${window.location.pathname}${window.location.search}`) return;
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
  window.scrollTo(0, 0);
}

/** The current route, following back/forward and `navigate`. */
export function useRoute(): Route {
  const read = useCallback(() => parseRoute(window.location.pathname, window.location.search), []);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    window.addEventListener('popstate', on);
    return () => window.removeEventListener('popstate', on);
  }, [read]);
  return route;
}
