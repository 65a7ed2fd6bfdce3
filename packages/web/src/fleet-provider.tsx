/**
 * Keeps the fleet state live for every page: opens the watch stream, lists everything after
 * each `hello`, applies the stream's changes through `fleetReducer`, and refreshes the
 * temperature column's bulk read. Pages only read the state.
 */

import { backoffDelay, EdgefleetError, sleep } from '@edgefleet/protocol';
import { type ReactNode, useEffect, useMemo, useReducer } from 'react';
import { type Api, TEMPERATURE_METRIC } from './api.js';
import { FleetContext, type FleetContextValue } from './hooks.js';
import { type FleetLists, fleetReducer, initialFleetState } from './reducers.js';
import type { Role, RolloutStatus } from './types.js';
import { watchFleet } from './watch.js';

/** How often the temperature column is refreshed (the server caches the bulk read for 5 s). */
const TEMPERATURE_REFRESH_MS = 15_000;

/** Every list the dashboard keeps, fetched in parallel; the audit log only for operators and admins (viewers get 403). */
export async function listFleet(api: Api, role: Role): Promise<FleetLists> {
  const [nodes, deployments, alerts, events, audit] = await Promise.all([
    api.nodes(),
    api.deployments(),
    api.alerts(),
    api.events({ limit: 500 }),
    role === 'viewer' ? Promise.resolve([]) : api.audit(100),
  ]);
  const withRollout = deployments.filter((d) => d.spec.rollout !== undefined);
  // A deployment with a strategy whose rollout the controller has not started yet answers 404: skip it.
  const rollouts = (await Promise.all(withRollout.map((d) => api.rollout(d.metadata.name).catch(() => undefined)))).filter(
    (r): r is RolloutStatus => r !== undefined,
  );
  return { nodes, deployments, rollouts, alerts, events, audit };
}

/** What {@link relistFleet} reports to, and when it stops. */
export interface RelistOptions {
  signal: AbortSignal;
  /** False once a newer `hello` started another listing: this one stops and reports nothing. */
  isCurrent: () => boolean;
  onListed: (lists: FleetLists) => void;
  onUnauthorized: (error: EdgefleetError) => void;
  /** Injected by tests; the fleet's abortable sleep and `Math.random` otherwise. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** Ceiling of the delays between listing attempts: the dashboard never waits longer than 10 s to try again. */
export const RELIST_MAX_DELAY_MS = 10_000;

/**
 * Lists the fleet after a `hello`, retrying a failed listing with the fleet's backoff rule
 * (full jitter, 1 s base, 10 s cap) until it succeeds, the token is refused (401: reported,
 * no retry), the provider unmounts or a newer listing replaces this one.
 */
export async function relistFleet(api: Api, role: Role, opts: RelistOptions): Promise<void> {
  const wait = opts.sleep ?? sleep;
  for (let attempt = 0; !opts.signal.aborted && opts.isCurrent(); attempt++) {
    try {
      const lists = await listFleet(api, role);
      if (opts.isCurrent() && !opts.signal.aborted) opts.onListed(lists);
      return;
    } catch (err) {
      if (err instanceof EdgefleetError && err.status === 401) return opts.onUnauthorized(err);
      const random = opts.random ?? Math.random;
      await wait(backoffDelay(attempt, { baseMs: 1_000, capMs: RELIST_MAX_DELAY_MS, random }), opts.signal);
    }
  }
}

export function FleetProvider(props: { api: Api; role: Role; onUnauthorized: (error: EdgefleetError) => void; children: ReactNode }) {
  const { api, role, onUnauthorized } = props;
  const [state, dispatch] = useReducer(fleetReducer, initialFleetState);

  useEffect(() => {
    const ctl = new AbortController();
    let generation = 0;
    const relist = (mine: number) =>
      relistFleet(api, role, {
        signal: ctl.signal,
        isCurrent: () => mine === generation,
        onListed: (lists) => dispatch({ type: 'listed', lists }),
        onUnauthorized,
      });
    void watchFleet(
      api,
      {
        onEvent(event) {
          dispatch({ type: 'watch', event });
          if (event.kind === 'hello') void relist(++generation);
        },
        onDisconnect(error, retryMs) {
          generation++;
          dispatch({ type: 'disconnected', problem: { message: error.message, hint: `${error.hint} (retrying in ${Math.round(retryMs / 1000)} s)` } });
        },
        onUnauthorized,
      },
      ctl.signal,
    );
    return () => ctl.abort();
  }, [api, role, onUnauthorized]);

  useEffect(() => {
    let stopped = false;
    const refresh = () =>
      api.latest(TEMPERATURE_METRIC).then(
        (r) => !stopped && dispatch({ type: 'temperatures', items: r.items }),
        () => undefined, // the column falls back to the heartbeat's hardware facts
      );
    void refresh();
    const t = setInterval(refresh, TEMPERATURE_REFRESH_MS);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [api]);

  const value = useMemo<FleetContextValue>(() => ({ state, api, role }), [state, api, role]);
  return <FleetContext.Provider value={value}>{props.children}</FleetContext.Provider>;
}
