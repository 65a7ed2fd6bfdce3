import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

/**
 * A real HAProxy (Debian's `haproxy`) in front of server replicas, as an operator would run
 * one: TCP passthrough, so TLS and the agents' client certificates reach the replicas
 * untouched (TLS is never terminated at the load balancer). The config is written by
 * {@link haproxyConfig}; the process runs in the foreground (`-db`), as the test's child.
 */
export interface HaproxyBackend {
  name: string;
  port: number;
}

export interface RunningHaproxy {
  /** `https://127.0.0.1:PORT`: the one address agents and clients are given. */
  url: string;
  port: number;
  configPath: string;
  /** What haproxy printed (its warnings, and backends going up and down). */
  output(): string;
  /** Stops it (SIGTERM, then SIGKILL) and resolves once it is gone. */
  stop(): Promise<void>;
  /** SIGKILL now, without waiting: for a process 'exit' handler (a bench interrupted). */
  kill(): void;
}

export const HAPROXY_BIN = process.env.EDGEFLEET_HAPROXY_BIN ?? '/usr/sbin/haproxy';

/**
 * The config: one frontend on 127.0.0.1:`port`, round robin over the backends with a TCP
 * check twice a second (a replica is out after 2 failed checks, back after 2 good ones).
 * A connection refused by a dead replica the checks have not caught yet is retried on
 * another (`retries` + `option redispatch`), so a new connection never sees the kill.
 * Timeouts are long: agents hold long polls open for tens of seconds. `maxconn` (4,096 by
 * default) caps the connections held at once, both sides counted once: past it HAProxy
 * leaves new connections waiting in the kernel's queue, so a fleet needs about 2.5 per lan
 * node (bench:fleet sizes it so).
 */
export function haproxyConfig(port: number, backends: HaproxyBackend[], maxconn = 4096): string {
  return [
    'global',
    `  maxconn ${maxconn}`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 10m',
    '  timeout server 10m',
    '  retries 3',
    '  option redispatch',
    '',
    'frontend fleet',
    `  bind 127.0.0.1:${port}`,
    '  default_backend replicas',
    '',
    'backend replicas',
    '  balance roundrobin',
    '  default-server inter 500ms fall 2 rise 2',
    ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port} check`),
    '',
  ].join('\n');
}

/** Writes the config into `dir` and starts haproxy; resolves once its port accepts connections. */
export async function startHaproxy(dir: string, port: number, backends: HaproxyBackend[], maxconn?: number): Promise<RunningHaproxy> {
  if (!existsSync(HAPROXY_BIN)) throw new Error(`haproxy not found at ${HAPROXY_BIN}: install it (apt-get install haproxy) or set EDGEFLEET_HAPROXY_BIN`);
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, haproxyConfig(port, backends, maxconn));
  const child: ChildProcess = spawn(HAPROXY_BIN, ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    text = (text + c).slice(-50_000);
  });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    text = (text + c).slice(-50_000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const stop = async (): Promise<void> => {
    if (gone()) return;
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.kill('SIGTERM');
    await exited;
    clearTimeout(timer);
  };
  const until = Date.now() + 30_000;
  while (!(await accepts(port))) {
    if (gone()) throw new Error(`haproxy exited (${child.exitCode ?? child.signalCode}) before listening: ${text.trim()}`);
    if (Date.now() > until) {
      await stop();
      throw new Error(`haproxy did not listen on 127.0.0.1:${port} within 30 s: ${text.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `https://127.0.0.1:${port}`, port, configPath, output: () => text, stop, kill: () => void child.kill('SIGKILL') };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
