import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Agent, type AgentOptions, loadIdentity, type NodeIdentity } from '@edgefleet/agent';
import { type HardwarePreset, writeHardwareFixture } from '@edgefleet/agent/fixtures';
import { EdgefleetClient } from '@edgefleet/protocol/node';
import { createServerLogger, type RunningServer, type ServerOptions, startServer } from '@edgefleet/server';
import { pino } from 'pino';

/**
 * A real server and real agents on loopback, over TLS, with temp dirs: what the
 * integration tests are made of. Nothing of ours is mocked; only time can be injected.
 */
export interface TestFleet {
  dir: string;
  server: RunningServer;
  ca: string;
  adminToken: string;
  admin: EdgefleetClient;
  /** Everything the server logged, for checks that no secret leaks. */
  serverLog: () => string;
  client(token: string): EdgefleetClient;
  createToken(opts?: { uses?: number; ttlSeconds?: number; site?: string; labels?: Record<string, string> }): Promise<string>;
  startAgent(preset: HardwarePreset, opts?: Partial<AgentOptions> & { serial?: string }): Promise<TestAgent>;
  /** Stops the server and starts it again on the same port; `whileDown` runs in between. */
  restartServer(whileDown?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

export interface TestAgent {
  agent: Agent;
  dataDir: string;
  hwRoot: string;
  /** Settles when run() ends: resolves on stop, rejects on a fatal error. */
  done: Promise<void>;
}

/** Polls `check` until it returns a truthy value or the timeout passes. */
export async function eventually<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startTestFleet(opts: Partial<ServerOptions> = {}): Promise<TestFleet> {
  const dir = mkdtempSync(join(tmpdir(), 'edgefleet-it-'));
  let logText = '';
  // The server's own logger (secrets scrubbed), into memory.
  const logger = createServerLogger(
    'debug',
    new Writable({
      write(chunk, _enc, cb) {
        logText += chunk.toString();
        cb();
      },
    }),
  );
  const serverOpts: ServerOptions = { dataDir: join(dir, 'server'), listen: '127.0.0.1:0', logger, ...opts };
  let server = await startServer(serverOpts);
  const ca = readFileSync(server.caCertPath, 'utf8');
  const adminToken = readFileSync(server.adminTokenFile, 'utf8').trim();
  const clients: EdgefleetClient[] = [];
  const agents: TestAgent[] = [];
  const client = (token: string): EdgefleetClient => {
    const c = new EdgefleetClient({ server: server.url, token, ca });
    clients.push(c);
    return c;
  };
  const admin = client(adminToken);
  let agentCount = 0;
  const fleet: TestFleet = {
    dir,
    get server() {
      return server;
    },
    ca,
    adminToken,
    admin,
    serverLog: () => logText,
    client,
    async createToken(o = {}) {
      return (await admin.createBootstrapToken(o)).token;
    },
    async startAgent(preset, o = {}) {
      agentCount++;
      const hwRoot = join(dir, `hw-${agentCount}`);
      const dataDir = join(dir, `agent-${agentCount}`);
      // Pi serials are 16 hex digits, a PC's machine-id 32.
      const serial = o.serial ?? agentCount.toString(16).padStart(preset === 'pc-amd64' ? 32 : 16, 'a');
      await writeHardwareFixture(hwRoot, preset, { serial });
      const agent = new Agent({
        server: server.url,
        dataDir,
        hwRoot,
        random: () => 0.5,
        log: pino({ level: 'silent' }),
        ...o,
      });
      const done = agent.run();
      done.catch(() => {}); // observed by the tests that expect a failure
      const handle = { agent, dataDir, hwRoot, done };
      agents.push(handle);
      return handle;
    },
    async restartServer(whileDown) {
      const port = server.port;
      await server.close();
      await whileDown?.();
      server = await startServer({ ...serverOpts, listen: `127.0.0.1:${port}` });
    },
    async close() {
      for (const a of agents) a.agent.stop();
      await Promise.allSettled(agents.map((a) => a.done));
      await Promise.allSettled(clients.map((c) => c.close()));
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fleet;
}

/**
 * A node enrolled by a real agent (with a token of `tokenOpts`), stopped once it has
 * reported: the identity it kept (certificate and key), for tests that then speak as the
 * node by hand.
 */
export async function enrolledIdentity(
  fleet: TestFleet,
  preset: HardwarePreset = 'pi5-nohat',
  tokenOpts?: Parameters<TestFleet['createToken']>[0],
): Promise<NodeIdentity> {
  const agent = await fleet.startAgent(preset, { token: await fleet.createToken(tokenOpts) });
  await eventually(() => agent.agent.state.lastHeartbeatAt !== undefined && agent.agent.state.nodeId, 30_000, 'the agent to enroll');
  agent.agent.stop();
  await agent.done;
  const identity = loadIdentity(agent.dataDir);
  if (identity === undefined) throw new Error('the agent kept no identity');
  return identity;
}
