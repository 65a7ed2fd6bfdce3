import { describe, expect, it } from 'vitest';
import { leaderMetricsText } from '../../src/leader/metrics.js';

describe('leader gauges', () => {
  it('says whether this replica leads, and the term', () => {
    expect(leaderMetricsText({ isLeader: true, replica: 'pi-"x"\\y', term: 7 })).toContain('edgefleet_leader{replica="pi-\\"x\\"\\\\y"} 1\n');
    const follower = leaderMetricsText({ isLeader: false, replica: 'b', term: 7 });
    expect(follower).toContain('edgefleet_leader{replica="b"} 0\n');
    expect(follower).toContain('# TYPE edgefleet_leader_term gauge\nedgefleet_leader_term{replica="b"} 7\n');
  });

  it('leaves the term out before one was read, and everything out without an election', () => {
    expect(leaderMetricsText({ isLeader: false, replica: 'b', term: undefined })).not.toContain('edgefleet_leader_term');
    expect(leaderMetricsText(undefined)).toBe('');
    expect(leaderMetricsText({ isLeader: false, replica: 'b', term: 7 })).not.toContain('edgefleet_replicas');
    expect(leaderMetricsText({ isLeader: false, replica: 'b', term: 7 }, 3)).toContain('# TYPE edgefleet_replicas gauge\nedgefleet_replicas{replica="b"} 3\n');
  });
});
