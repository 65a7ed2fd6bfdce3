import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { formatBootstrapToken, parseBootstrapToken } from '@edgefleet/protocol';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestFleet, type TestFleet } from '../../test-support/fleet.js';

describe('a fleet enrolling over mTLS', () => {
  let fleet: TestFleet;
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 300 });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('enrolls three agents that show up online with their capability labels', async () => {
    const presets = ['pi5-hailo8l', 'pi4-coral-usb', 'pc-amd64'] as const;
    const agents = [];
    for (const preset of presets)
      agents.push(await fleet.startAgent(preset, { token: await fleet.createToken({ site: 'warehouse-east' }), site: 'ignored-site' }));
    const list = await eventually(async () => {
      const l = await fleet.admin.listNodes();
      return l.items.length === 3 && l.items.every((n) => n.status === 'online') && l.items;
    });
    const byAccel = Object.fromEntries(list.map((n) => [n.labels['ai.accelerator'], n]));
    expect(byAccel.hailo8l?.labels).toEqual({
      'hardware.ai-hat': 'true',
      'ai.accelerator': 'hailo8l',
      'cpu.arch': 'arm64',
      'firmware.version': expect.stringMatching(/^\d{8}$/),
      // The token's site is an operator label and wins over the agent's --site.
      'geolocation.site': 'warehouse-east',
      'board.model': 'raspberrypi5',
      'memory.gb': expect.stringMatching(/^\d+$/),
      // From the fixture's identify cache (issue 17).
      'ai.firmware.version': '4.23.0',
    });
    expect(byAccel.hailo8l?.detectedLabels['geolocation.site']).toBe('ignored-site');
    expect(byAccel['coral-usb']?.labels).toMatchObject({ 'hardware.ai-hat': 'true', 'cpu.arch': 'arm64', 'board.model': 'raspberrypi4' });
    expect(byAccel.none?.labels).toMatchObject({ 'hardware.ai-hat': 'false', 'cpu.arch': 'amd64', 'board.model': 'generic' });
    expect(byAccel.hailo8l?.site).toBe('warehouse-east');

    // The agent made its own key, kept it private, and forgot the token.
    const a = agents[0] as (typeof agents)[number];
    const keyFile = readdirSync(a.dataDir).find((f) => f.endsWith('.key')) as string;
    expect(statSync(join(a.dataDir, keyFile)).mode & 0o777).toBe(0o600);
    // Every file the agent wrote, telemetry queues included.
    const everything = (readdirSync(a.dataDir, { recursive: true }) as string[])
      .filter((f) => statSync(join(a.dataDir, f)).isFile())
      .map((f) => readFileSync(join(a.dataDir, f), 'utf8'))
      .join('\n');
    expect(everything).not.toContain('EF1');
    expect(existsSync(join(a.dataDir, 'ca.crt'))).toBe(true);
  });

  it('selects nodes by label with kubectl semantics', async () => {
    expect((await fleet.admin.listNodes('hardware.ai-hat=true')).items).toHaveLength(2);
    expect((await fleet.admin.listNodes('ai.accelerator in (hailo8l,hailo8)')).items).toHaveLength(1);
    expect((await fleet.admin.listNodes('cpu.arch!=arm64')).items.map((n) => n.labels['cpu.arch'])).toEqual(['amd64']);
    expect((await fleet.admin.listNodes('!firmware.version')).items).toHaveLength(1);
  });

  it('keeps heartbeats coming and refreshes last-seen', async () => {
    const node = (await fleet.admin.listNodes('ai.accelerator=hailo8l')).items[0];
    const first = Date.parse(node?.lastSeen ?? '');
    await eventually(async () => Date.parse((await fleet.admin.getNode(node?.id ?? '')).lastSeen ?? '') > first, 5_000, 'a newer heartbeat');
  });

  it('never lets an operator label be overwritten by detection', async () => {
    const node = (await fleet.admin.listNodes('ai.accelerator=hailo8l')).items[0]!;
    await fleet.admin.labelNode(node.name, { set: { 'ai.accelerator': 'hailo8', tier: 'gold' } });
    const before = Date.parse((await fleet.admin.getNode(node.id)).lastSeen ?? '');
    await eventually(async () => Date.parse((await fleet.admin.getNode(node.id)).lastSeen ?? '') > before, 5_000, 'a heartbeat after labelling');
    const after = await fleet.admin.getNode(node.id);
    expect(after.labels['ai.accelerator']).toBe('hailo8');
    expect(after.detectedLabels['ai.accelerator']).toBe('hailo8l');
    await fleet.admin.labelNode(node.id, { remove: ['ai.accelerator'] });
    expect((await fleet.admin.getNode(node.id)).labels['ai.accelerator']).toBe('hailo8l');
    expect((await fleet.admin.getNode(node.id)).labels.tier).toBe('gold');
  });

  it('refuses a server whose CA differs from the one the token pins, before sending the token', async () => {
    const real = parseBootstrapToken(await fleet.createToken());
    const forged = formatBootstrapToken({ ...real, caFingerprint: '0'.repeat(64) });
    const a = await fleet.startAgent('pi5-nohat', { token: forged });
    await expect(a.done).rejects.toMatchObject({ code: 'server_untrusted' });
    // The token was never presented, so its one use is still there.
    const info = (await fleet.admin.listBootstrapTokens()).find((t) => t.id === real.id);
    expect(info?.usesLeft).toBe(1);
  });

  it('never writes a token or private key to the server log', async () => {
    const log = fleet.serverLog();
    expect(log).toContain('node enrolled');
    expect(log).not.toContain(fleet.adminToken);
    expect(log).not.toMatch(/EF1[0-9a-f]{64}::/);
    expect(log).not.toContain('PRIVATE KEY');
    expect(log).not.toContain('CERTIFICATE REQUEST');
  });
});

describe('node lifecycle', () => {
  let fleet: TestFleet;
  let now = Date.now();
  beforeAll(async () => {
    fleet = await startTestFleet({ heartbeatIntervalMs: 60_000, nodeCertLifetimeMs: 4_000, clock: () => now });
  });
  afterAll(async () => {
    await fleet?.close();
  });

  it('marks a node offline after three missed heartbeats', async () => {
    now = Date.now();
    const a = await fleet.startAgent('pi5-hailo8', { token: await fleet.createToken() });
    const id = await eventually(() => a.agent.state.lastHeartbeatAt !== undefined && a.agent.state.nodeId);
    expect((await fleet.admin.getNode(id)).status).toBe('online');
    now += 3 * 60_000;
    expect((await fleet.admin.getNode(id)).status).toBe('online');
    now += 1;
    expect((await fleet.admin.getNode(id)).status).toBe('offline');
    expect((await fleet.admin.listNodes()).items.find((n) => n.id === id)?.status).toBe('offline');
  });

  it('renews its certificate at two thirds of its lifetime, by itself', async () => {
    now = Date.now();
    // The server clock runs in step with real time here, so the 4 s certificate is renewed after about 2.7 s.
    const tick = setInterval(() => {
      now = Date.now();
    }, 20);
    try {
      const a = await fleet.startAgent('pi5-hailo10h', { token: await fleet.createToken() });
      const id = await eventually(() => a.agent.state.nodeId);
      const first = (await fleet.admin.getNode(id)).certificate.serial;
      const renewed = await eventually(
        async () => {
          const serial = (await fleet.admin.getNode(id)).certificate.serial;
          return serial !== first && serial;
        },
        10_000,
        'a renewed certificate',
      );
      expect(renewed).not.toBe(first);
      // The new key and certificate replaced the old pair on disk.
      await eventually(() => readdirSync(a.dataDir).filter((f) => f.endsWith('.key')).length === 1);
      // The renewed certificate works: the heartbeat right after the renewal went through.
      await eventually(
        () => (a.agent.state.lastHeartbeatAt ?? 0) >= (a.agent.state.lastRenewalAt ?? Number.POSITIVE_INFINITY),
        5_000,
        'a heartbeat with the new certificate',
      );
      // Every certificate the CA issued for this node stays tracked; the audit log shows the renewal.
      const audit = await fleet.admin.request('audit', { query: { limit: 50 } });
      expect(audit.items.some((e) => e.action === 'node.renew' && e.target === id)).toBe(true);
    } finally {
      clearInterval(tick);
    }
  });

  it('refuses a decommissioned node with 403 on its next request', async () => {
    now = Date.now();
    const a = await fleet.startAgent('pi5-nohat', { token: await fleet.createToken() });
    const id = await eventually(() => a.agent.state.nodeId);
    await eventually(() => a.agent.state.lastHeartbeatAt);
    await fleet.admin.deleteNode(id);
    await expect(fleet.admin.getNode(id)).rejects.toMatchObject({ status: 404 });
    a.agent.stop();
    await a.done;
    // The same identity, started again, is refused: its certificate is revoked.
    const again = await fleet.startAgent('pi5-nohat', { dataDir: a.dataDir });
    await expect(again.done).rejects.toMatchObject({ code: 'certificate_revoked', status: 403 });
  });

  it('keeps the node record and operator labels when the same hardware enrolls again with a `nodes reenroll` token', async () => {
    now = Date.now();
    const first = await fleet.startAgent('cm5-hailo8l', { token: await fleet.createToken(), serial: 'feedfacecafe0001' });
    const id = await eventually(() => first.agent.state.nodeId);
    await fleet.admin.labelNode(id, { set: { 'geolocation.site': 'line-4' } });
    first.agent.stop();
    await first.done;
    // A reflashed card: new data dir, same board serial, and a token the operator bound to the node.
    const reenroll = await fleet.admin.request('reenrollNode', { params: { ref: id }, body: {} });
    expect(reenroll.uses).toBe(1);
    const second = await fleet.startAgent('cm5-hailo8l', { token: reenroll.token, serial: 'feedfacecafe0001' });
    expect(await eventually(() => second.agent.state.nodeId)).toBe(id);
    expect((await fleet.admin.getNode(id)).labels['geolocation.site']).toBe('line-4');
    const audit = await fleet.admin.request('audit', { query: { limit: 50 } });
    expect(audit.items.some((e) => e.action === 'node.reenroll-token' && e.target === id)).toBe(true);
    expect(audit.items.some((e) => e.action === 'node.reenroll' && e.target === id)).toBe(true);
    // The old identity on the first data dir is revoked.
    const old = await fleet.startAgent('cm5-hailo8l', { dataDir: first.dataDir, serial: 'feedfacecafe0001' });
    await expect(old.done).rejects.toMatchObject({ code: 'certificate_revoked', status: 403 });
  });

  it('refuses an expired token with 401 and a hint', async () => {
    now = Date.now();
    const token = await fleet.createToken({ ttlSeconds: 60 });
    now += 61_000;
    const a = await fleet.startAgent('pi5-nohat', { token });
    await expect(a.done).rejects.toMatchObject({ code: 'token_expired', status: 401, hint: expect.stringContaining('token create') });
  });

  it('lets exactly one of two agents racing for a one-use token enroll', async () => {
    now = Date.now();
    const token = await fleet.createToken({ uses: 1 });
    const [a, b] = await Promise.all([fleet.startAgent('pi5-hailo8l', { token }), fleet.startAgent('pi5-hailo8', { token })]);
    // One ends with token_exhausted; the other enrolls.
    const loser = await Promise.race([
      a!.done.then(
        () => undefined,
        () => a!,
      ),
      b!.done.then(
        () => undefined,
        () => b!,
      ),
    ]);
    expect(loser).toBeDefined();
    await expect(loser!.done).rejects.toMatchObject({ code: 'token_exhausted', status: 401 });
    const winner = loser === a ? b! : a!;
    await eventually(() => winner.agent.state.nodeId, 10_000, 'the winner to enroll');
    expect(loser!.agent.state.nodeId).toBeUndefined();
  });

  it('gives nodes enrolling at once under the same name distinct names', async () => {
    now = Date.now();
    const token = await fleet.createToken({ uses: 4 });
    const agents = await Promise.all(Array.from({ length: 4 }, () => fleet.startAgent('pi5-nohat', { token, name: 'line-camera' })));
    const ids = await Promise.all(agents.map((a) => eventually(() => a.agent.state.nodeId)));
    const names = await Promise.all(ids.map(async (id) => (await fleet.admin.getNode(id)).name));
    expect(new Set(names).size).toBe(4);
    expect(names).toContain('line-camera');
    for (const n of names) expect(n).toMatch(/^line-camera(-[0-9a-f]{6})?$/);
  });

  it('lets a used-up multi-use token enroll no more nodes', async () => {
    now = Date.now();
    const token = await fleet.createToken({ uses: 2 });
    const a = await fleet.startAgent('pi5-nohat', { token });
    const b = await fleet.startAgent('pi5-nohat', { token });
    await eventually(() => a.agent.state.nodeId && b.agent.state.nodeId);
    const c = await fleet.startAgent('pi5-nohat', { token });
    await expect(c.done).rejects.toMatchObject({ code: 'token_exhausted' });
    const id = parseBootstrapToken(token).id;
    expect((await fleet.admin.listBootstrapTokens()).find((t) => t.id === id)).toMatchObject({ uses: 2, usesLeft: 0 });
  });
});

describe('restarts', () => {
  it('keeps CA, admin token and nodes across a server restart, and agents carry on', async () => {
    const fleet = await startTestFleet({ heartbeatIntervalMs: 300 });
    try {
      const fingerprint = fleet.server.caFingerprint;
      const a = await fleet.startAgent('pi5-hailo8l', { token: await fleet.createToken() });
      await eventually(() => a.agent.state.lastHeartbeatAt);
      await fleet.restartServer();
      expect(fleet.server.caFingerprint).toBe(fingerprint);
      expect(fleet.server.adminTokenCreated).toBe(false);
      const admin = new EdgefleetClient({ server: fleet.server.url, token: fleet.adminToken, ca: fleet.ca });
      const seen = Date.parse((await admin.listNodes()).items[0]?.lastSeen ?? '');
      await eventually(async () => Date.parse((await admin.listNodes()).items[0]?.lastSeen ?? '') > seen, 10_000, 'a heartbeat after the restart');
      await admin.close();
      // An agent restarted on its data dir reuses its identity: no token needed.
      a.agent.stop();
      await a.done;
      const b = await fleet.startAgent('pi5-hailo8l', { dataDir: a.dataDir });
      expect(await eventually(() => b.agent.state.lastHeartbeatAt !== undefined && b.agent.state.nodeId)).toBe(a.agent.state.nodeId);
    } finally {
      await fleet.close();
    }
  });
});
