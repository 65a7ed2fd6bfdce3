/** Small React hooks the pages share: the fleet context, a ticking clock, async loads, titles. */

import type { EdgefleetError } from '@edgefleet/protocol';
import { createContext, useCallback, useContext, useEffect, useRef, useState } from 'react';
import type { Api } from './api.js';
import type { FleetState } from './reducers.js';
import type { Role } from './types.js';

/** What every page can read: the fleet state, the API, and the signed-in role. */
export interface FleetContextValue {
  state: FleetState;
  api: Api;
  role: Role;
}

export const FleetContext = createContext<FleetContextValue | null>(null);

export function useFleet(): FleetContextValue {
  const v = useContext(FleetContext);
  if (v === null) throw new Error('useFleet needs a FleetProvider above it');
  return v;
}

/** Whether the role may press buttons that change things (operator or admin). */
export function canOperate(role: Role): boolean {
  return role === 'operator' || role === 'admin';
}

/** The current time, refreshed every `everyMs`, for "12 s ago" texts. */
export function useNow(everyMs = 5_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export interface AsyncState<T> {
  data: T | undefined;
  error: EdgefleetError | undefined;
  loading: boolean;
  reload: () => void;
}

/**
 * Runs `load` when `deps` change (and on `reload`), keeping the last data while a reload
 * runs so the page does not flicker. An answer that arrives after a newer request started
 * is dropped.
 */
export function useAsync<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): AsyncState<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<EdgefleetError | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [generation, setGeneration] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  // biome-ignore lint/correctness/useExhaustiveDependencies: the caller's deps decide when to load again
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    loadRef.current(ctl.signal).then(
      (d) => {
        if (ctl.signal.aborted) return;
        setData(d);
        setError(undefined);
        setLoading(false);
      },
      (err: EdgefleetError) => {
        if (ctl.signal.aborted) return;
        setError(err);
        setLoading(false);
      },
    );
    return () => ctl.abort();
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { data, error, loading, reload };
}

/** Sets the tab's title while the page is shown. */
export function useTitle(title: string): void {
  useEffect(() => {
    document.title = `${title} · edgefleet`;
  }, [title]);
}
