import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../../test-support/cli.js';
import { startTestFleet, type TestFleet } from '../../../test-support/fleet.js';
import { statusLine } from '../src/commands/rollouts.js';

const run = runCli;

describe('edgefleet rollout and events', () => {
  let fleet: TestFleet;
  const conn = (): string[] => ['--server', fleet.server.url, '--token', fleet.adminToken, '--ca', `${fleet.dir}/server/ca.crt`];
  beforeAll(async () => {
    fleet = await startTestFleet({ requireSigned: false });
    const { digest } = await fleet.admin.pushArtifact(Readable.from(Buffer.from('model bytes')));
    await fleet.admin.apply([
      {
        apiVersion: 'edgefleet.dev/v1',
        kind: 'Deployment',
        metadata: { name: 'plain' },
        spec: { selector: 'cpu.arch=arm64', release: { version: '1', model: { artifact: digest, format: 'onnx' } } as never },
      },
    ]);
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('says plainly when a deployment has no rollout strategy', async () => {
    const r = await run('rollout', 'status', 'plain', ...conn());
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('has no rollout strategy');
    expect(r.err).toContain('hint: add spec.rollout');
    const p = await run('rollout', 'pause', 'plain', ...conn());
    expect(p.err).toContain('has no rollout strategy');
    const missing = await run('rollout', 'status', 'nope', ...conn());
    expect(missing.err).toContain('deployment "nope" not found');
  });

  it('prints events as a table', async () => {
    const r = await run('events', ...conn());
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toMatch(/^TIME\s+DEPLOYMENT\s+REVISION\s+STEP\s+EVENT\s+MESSAGE$/);
  });

  it('draws a status line with a progress bar', () => {
    const line = statusLine(
      {
        deployment: 'detect',
        revision: 3,
        fromRevision: 2,
        phase: 'Progressing',
        step: 2,
        steps: 4,
        nodes: { total: 10, updated: 5, pending: 4, deferred: 1, failed: 0, rolledBack: 0 },
        gate: { result: 'pass', reason: 'GatesPassed' },
      },
      10,
    );
    expect(line).toBe('detect r2→r3 Progressing step 2/4 [#####.....] 5/10 updated, 1 deferred gate pass (GatesPassed)');
  });
});
