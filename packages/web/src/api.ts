/**
 * The dashboard's API client: `fetch` with the operator's token as a bearer header, JSON
 * in and out, and the server's `{error:{code,message,hint}}` turned back into an
 * `EdgefleetError`, so a page shows the server's own words and hint. The token lives only
 * in memory and session storage; it is never put in a URL.
 */
import { EdgefleetError, isErrorBody, isErrorCode } from './protocol.js';
import type {
  AlertView,
  AuditEntry,
  DeploymentView,
  LatestValues,
  LogList,
  Node,
  NodeTelemetry,
  RevisionView,
  RolloutCommand,
  RolloutEvent,
  RolloutStatus,
  Whoami,
} from './types.js';

/** The metric behind the nodes table's temperature column. */
export const TEMPERATURE_METRIC = 'edgefleet_node_temperature_celsius';

/** Turns a failed answer into the fleet's error type, keeping the server's hint. */
export async function errorFrom(res: Response): Promise<EdgefleetError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  if (isErrorBody(body)) {
    const code = body.error.code;
    return new EdgefleetError({ ...body.error, code: isErrorCode(code) ? code : 'unexpected_response', status: res.status });
  }
  return new EdgefleetError({
    code: res.status >= 500 ? 'internal' : 'bad_request',
    status: res.status,
    message: `the server answered ${res.status} ${res.statusText}`.trim(),
    hint: res.status >= 500 ? 'see the server log' : 'reload the page; if it persists, check the server version',
  });
}

/** An error for a request that never got an answer. */
export function unreachable(err: unknown): EdgefleetError {
  return new EdgefleetError({
    code: 'unreachable',
    status: 0,
    message: `cannot reach the server: ${(err as Error).message}`,
    hint: 'check that edgefleet server is running and reachable from this browser',
  });
}

const q = (params: Record<string, string | number | undefined>): string => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) s.set(k, String(v));
  const text = s.toString();
  return text === '' ? '' : `?${text}`;
};
const seg = encodeURIComponent;

/** Typed calls to the routes the dashboard uses. */
export class Api {
  constructor(
    readonly token: string,
    private readonly base = '',
  ) {}

  /** `fetch` with the bearer token; errors become `EdgefleetError`. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw unreachable(err);
    }
    if (!res.ok) throw await errorFrom(res);
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }

  whoami(): Promise<Whoami> {
    return this.get('/v1/whoami');
  }
  async nodes(): Promise<Node[]> {
    return (await this.get<{ items: Node[] }>('/v1/nodes')).items;
  }
  node(ref: string): Promise<Node> {
    return this.get(`/v1/nodes/${seg(ref)}`);
  }
  nodeTelemetry(ref: string, signal?: AbortSignal): Promise<NodeTelemetry> {
    return this.get(`/v1/nodes/${seg(ref)}/telemetry`, signal);
  }
  nodeLogs(ref: string, opts: { since?: string; after?: number; limit?: number } = {}, signal?: AbortSignal): Promise<LogList> {
    return this.get(`/v1/nodes/${seg(ref)}/logs${q({ since: opts.since, after: opts.after, limit: opts.limit })}`, signal);
  }
  async alerts(): Promise<AlertView[]> {
    return (await this.get<{ items: AlertView[] }>('/v1/alerts')).items;
  }
  latest(name: string): Promise<LatestValues> {
    return this.get(`/v1/telemetry/latest${q({ name })}`);
  }
  async deployments(): Promise<DeploymentView[]> {
    return (await this.get<{ items: DeploymentView[] }>('/v1/deployments')).items;
  }
  async revisions(name: string, signal?: AbortSignal): Promise<RevisionView[]> {
    return (await this.get<{ items: RevisionView[] }>(`/v1/deployments/${seg(name)}/revisions`, signal)).items;
  }
  rollout(name: string): Promise<RolloutStatus> {
    return this.get(`/v1/deployments/${seg(name)}/rollout`);
  }
  rolloutCommand(name: string, command: RolloutCommand, opts: { full?: boolean; now?: boolean } = {}): Promise<{ accepted: boolean }> {
    return this.request('POST', `/v1/deployments/${seg(name)}/rollout/${command}`, opts);
  }
  async events(opts: { deployment?: string; limit?: number } = {}): Promise<RolloutEvent[]> {
    return (await this.get<{ items: RolloutEvent[] }>(`/v1/events${q({ deployment: opts.deployment, limit: opts.limit })}`)).items;
  }
  async audit(limit = 100): Promise<AuditEntry[]> {
    return (await this.get<{ items: AuditEntry[] }>(`/v1/audit${q({ limit })}`)).items;
  }
}
