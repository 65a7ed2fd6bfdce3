import { createServer, request, type Server } from 'node:http';

/** Where a deployment's requests go now: the serving instance's port and revision. */
export interface ProxyTarget {
  port: number;
  revision: number;
  /** Whether the instance is the CPU fallback. */
  fallback: boolean;
}

/** One request seen by the proxy, for the workload's stats. */
export interface ProxiedRequest {
  deployment: string;
  revision: number;
  latencyMs: number;
  /** False for 5xx answers and for requests the instance never answered. */
  ok: boolean;
  /** Only inference calls count toward latency and error rates (health checks do not). */
  inference: boolean;
  fallback: boolean;
}

/**
 * A stable front door per deployment. Instances come and go on ports the agent picks (a
 * new revision starts beside the old one), so clients talk to this proxy, whose port stays
 * the same across revisions and fallbacks. It also measures every request — latency and
 * outcome per revision — which is what rollout gates compare.
 */
export class DeploymentProxy {
  private server: Server | undefined;
  port = 0;

  constructor(
    readonly deployment: string,
    private readonly target: () => ProxyTarget | undefined,
    private readonly onRequest: (r: ProxiedRequest) => void,
    private readonly host = '127.0.0.1',
  ) {}

  async listen(port = 0): Promise<number> {
    const server = createServer((req, res) => {
      const target = this.target();
      const inference = req.method === 'POST' && /\/infer$/.test((req.url ?? '').split('?')[0] ?? '');
      if (target === undefined) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `no instance of ${this.deployment} is serving on this node right now` }));
        return;
      }
      const started = performance.now();
      const done = (status: number): void => {
        this.onRequest({
          deployment: this.deployment,
          revision: target.revision,
          latencyMs: performance.now() - started,
          ok: status < 500,
          inference,
          fallback: target.fallback,
        });
      };
      const upstream = request({ host: '127.0.0.1', port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('end', () => done(up.statusCode ?? 502));
      });
      // An instance that stops answering must not hold clients forever.
      upstream.setTimeout(60_000, () => upstream.destroy(new Error('no answer within 60 s')));
      upstream.on('error', (err) => {
        done(502);
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: `the ${this.deployment} instance did not answer: ${err.message}` }));
      });
      req.pipe(upstream);
    });
    // Keep-alive connections from clients must not hold the agent's shutdown.
    server.keepAliveTimeout = 5_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.host, () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    return this.port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
