import { loadIdentity } from '@edgefleet/agent';
import { EdgefleetClient, encodeLogBatch, encodeTelemetryBatch, uploadAnswerDigest } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestAgent, type TestFleet } from '../../test-support/fleet.js';

/**
 * Answers to uploads and heartbeats through the real server (issue 18): 204 while the node
 * holds what the answer would say (`known`), the full answer when it changed, when something
 * was rejected, and for agents that send no `known`.
 */
describe('telemetry answers: 204 when the node holds them', () => {
  let fleet: TestFleet;
  let node: TestAgent;
  let client: EdgefleetClient;

  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 1_000 });
    node = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken({ site: 'warehouse-east' }), telemetry: { metricsListen: false } });
    await eventually(() => node.agent.state.lastHeartbeatAt !== undefined, 20_000, 'enrolled');
    const identity = loadIdentity(node.dataDir);
    if (identity === undefined) throw new Error('no identity');
    client = new EdgefleetClient({ server: fleet.server.url, ca: identity.caPem, cert: identity.certPem, key: identity.keyPem });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await fleet?.close();
  });

  const batch = (labels: Record<string, string>) =>
    encodeTelemetryBatch({
      stream: 'answers',
      seq: 1,
      resolutionMs: 1_000,
      series: [{ kind: 'gauge', name: 'edgefleet_node_temperature_celsius', labels, points: [{ t: Date.now(), min: 1, max: 1, last: 1 }] }],
    });

  it('answers 204 while the node holds the answer, and the full answer once it changes or a series is rejected', async () => {
    const gauge = () => batch({});
    // No `known` (an older agent): the full answer, as before.
    const full = await client.uploadTelemetry(gauge());
    expect(full).toMatchObject({ accepted: true, telemetry: { profile: 'lan' }, heartbeatIntervalSeconds: 1 });
    const known = uploadAnswerDigest(full as NonNullable<typeof full>);
    expect(await client.uploadTelemetry(gauge(), { known })).toBeUndefined();
    expect(
      await client.uploadLogs(
        encodeLogBatch({
          v: 1,
          stream: 'answers',
          seq: 1,
          entries: [{ tsNs: `${Date.now()}000000`, source: 'agent', stream: 'agent', level: 'info', line: 'answers' }],
        }),
        { known },
      ),
    ).toBeUndefined();
    // A rejection is news, held answer or not.
    const rejected = await client.uploadTelemetry(batch({ deployment: 'not-mine', revision: '1' }), { known });
    expect(rejected?.rejected).toHaveLength(1);
    // An operator moves the node to the metered profile: the node's digest is stale, the answer full.
    const ref = node.agent.state.nodeId as string;
    await fleet.admin.labelNode(ref, { set: { 'telemetry.profile': 'metered' } });
    try {
      const changed = await client.uploadTelemetry(gauge(), { known });
      expect(changed?.telemetry).toMatchObject({ profile: 'metered', foldHeartbeats: true });
    } finally {
      await fleet.admin.labelNode(ref, { remove: ['telemetry.profile'] });
    }
    expect(await client.uploadTelemetry(gauge(), { known })).toBeUndefined();
    // Heartbeats the same way: 204 while the node holds its settings and interval; the full answer without `known`.
    const settings = uploadAnswerDigest({ telemetry: full?.telemetry as NonNullable<typeof full>['telemetry'], heartbeatIntervalSeconds: 1 });
    expect(await client.reportStatusHolding({}, settings)).toBeUndefined();
    expect(await client.reportStatus({})).toMatchObject({ heartbeatIntervalSeconds: 1, telemetry: { profile: 'lan' } });
  });

  it('refuses a `known` that is not a digest, naming the field', async () => {
    const err = await client.uploadTelemetry(batch({}), { known: 'not-a-digest' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, field: 'known' });
  });
});
