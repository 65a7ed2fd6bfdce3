/**
 * The dashboard's API client: the client generated from the route table
 * (`@edgefleet/protocol`) over `fetch`, with the operator's token as a bearer header, so a
 * page gets validated answers and the server's own `EdgefleetError` (words and hint). The
 * token lives only in memory and session storage; it is never put in a URL.
 */
import {
  type AlertView,
  ApiClient,
  type AuditEntry,
  connectionError,
  type DeploymentView,
  type EdgefleetError,
  fetchTransport,
  type LatestValues,
  type LogList,
  type Node,
  type NodeTelemetry,
  type RawResponse,
  type RevisionView,
  type RolloutCommand,
  type RolloutCommandAccepted,
  type RolloutCommandOptions,
  type RolloutEventView,
  type RolloutStatus,
  type Whoami,
} from '@edgefleet/protocol';

/** The metric behind the nodes table's temperature column. */
export const TEMPERATURE_METRIC = 'edgefleet_node_temperature_celsius';

/** An error for a request that never got an answer. */
export function unreachable(err: unknown): EdgefleetError {
  return connectionError('', err);
}

/** Typed calls to the routes the dashboard uses. */
export class Api {
  readonly client: ApiClient<Response['body']>;

  constructor(
    readonly token: string,
    base = '',
  ) {
    this.client = new ApiClient({ transport: fetchTransport({ base }), token });
  }

  whoami(): Promise<Whoami> {
    return this.client.request('whoami', {});
  }
  async nodes(): Promise<Node[]> {
    return (await this.client.request('listNodes', {})).items;
  }
  node(ref: string): Promise<Node> {
    return this.client.request('getNode', { params: { ref } });
  }
  nodeTelemetry(ref: string, signal?: AbortSignal): Promise<NodeTelemetry> {
    return this.client.request('nodeTelemetry', { params: { ref } }, signal === undefined ? {} : { signal });
  }
  nodeLogs(ref: string, opts: { since?: string; after?: number; limit?: number } = {}, signal?: AbortSignal): Promise<LogList> {
    return this.client.request('nodeLogs', { params: { ref }, query: opts }, signal === undefined ? {} : { signal });
  }
  async alerts(): Promise<AlertView[]> {
    return (await this.client.request('alerts', {})).items;
  }
  latest(name: string): Promise<LatestValues> {
    return this.client.request('latestValues', { query: { name } });
  }
  async deployments(): Promise<DeploymentView[]> {
    return (await this.client.request('listDeployments', {})).items;
  }
  async revisions(name: string, signal?: AbortSignal): Promise<RevisionView[]> {
    return (await this.client.request('listRevisions', { params: { name } }, signal === undefined ? {} : { signal })).items;
  }
  rollout(name: string): Promise<RolloutStatus> {
    return this.client.request('rolloutStatus', { params: { name } });
  }
  rolloutCommand(name: string, command: RolloutCommand, opts: RolloutCommandOptions = {}): Promise<RolloutCommandAccepted> {
    return this.client.request('rolloutCommand', { params: { name, command }, body: opts });
  }
  async events(opts: { deployment?: string; limit?: number } = {}): Promise<RolloutEventView[]> {
    return (await this.client.request('events', { query: opts })).items;
  }
  async audit(limit = 100): Promise<AuditEntry[]> {
    return (await this.client.request('audit', { query: { limit } })).items;
  }
  /** Opens the live event stream (`GET /v1/watch`); an error answer throws. */
  watch(signal: AbortSignal): Promise<RawResponse<Response['body']>> {
    return this.client.request('watch', {}, { signal });
  }
}
