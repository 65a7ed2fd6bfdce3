/**
 * Keeps the fleet state live for every page: opens the watch stream, lists everything after
 * each `hello`, applies the stream's changes through `fleetReducer`, and refreshes the
 * temperature column's bulk read. Pages only read the state.
 */

import type { EdgefleetError } from '@edgefleet/protocol';
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

export function FleetProvider(props: { api: Api; role: Role; onUnauthorized: (error: EdgefleetError) => void; children: ReactNode }) {
  const { api, role, onUnauthorized } = props;
  const [state, dispatch] = useReducer(fleetReducer, initialFleetState);

  useEffect(() => {
    const ctl = new AbortController();
    let generation = 0;
    const relist = async (mine: number) => {
      for (let attempt = 0; !ctl.signal.aborted && mine === generation; attempt++) {
        try {
          const lists = await listFleet(api, role);
          if (mine === generation && !ctl.signal.aborted) dispatch({ type: 'listed', lists });
          return;
        } catch (err) {
          const e = err as EdgefleetError;
          if (e.status === 401) return onUnauthorized(e);
          await new Promise((r) => setTimeout(r, Math.min(10_000, 1_000 * 2 ** attempt)));
        }
      }
    };
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
