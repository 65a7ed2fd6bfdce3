/** Who leads, as Prometheus gauges for the replica's `GET /metrics`. */
interface LeaderView {
  readonly isLeader: boolean;
  readonly replica: string;
  readonly term: number | undefined;
}

/** A label value escaped for the Prometheus text format. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * `edgefleet_leader{replica} 1|0` and `edgefleet_leader_term{replica} N` (the term it leads
 * under, or the newest it saw; absent before it read one), and on PostgreSQL
 * `edgefleet_replicas{replica} N` (the replicas it counts on the database: a release's
 * answers go at one over that share of the fleet's pace). Without an election (tests that
 * build a server context by hand) the gauges are absent.
 */
export function leaderMetricsText(leader: LeaderView | undefined, replicas?: number): string {
  if (leader === undefined) return '';
  const replica = `replica="${labelValue(leader.replica)}"`;
  const lines = [
    '# HELP edgefleet_leader Whether this replica holds the leader lease (1) and runs the singleton work, or not (0).',
    '# TYPE edgefleet_leader gauge',
    `edgefleet_leader{${replica}} ${leader.isLeader ? 1 : 0}`,
  ];
  if (leader.term !== undefined) {
    lines.push(
      '# HELP edgefleet_leader_term The fencing term of the leader lease: the one this replica leads under, or the newest it saw.',
      '# TYPE edgefleet_leader_term gauge',
      `edgefleet_leader_term{${replica}} ${leader.term}`,
    );
  }
  if (replicas !== undefined) {
    lines.push(
      '# HELP edgefleet_replicas Replicas of this fleet listening on its database, as this replica last counted them; it lets one over this share of a release go.',
      '# TYPE edgefleet_replicas gauge',
      `edgefleet_replicas{${replica}} ${replicas}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
