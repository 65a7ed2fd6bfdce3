/**
 * The agent's built-in model server: one ONNX model behind the Open Inference Protocol
 * (KServe v2 REST) on node:http. It is what a node runs when a Deployment's model has no
 * accelerator runtime, or as the fallback when that runtime fails.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Logger, pino } from 'pino';
import { decodeInferenceRequest } from './inference-request.js';
import { readJsonBody } from './json-body.js';
import { OipError } from './oip-error.js';
import { type ModelRef, matchOipRoute, type OipRoute, ROUTE_METHOD } from './oip-routes.js';
import type { LoadedModel } from './onnx-session.js';

export { type ModelServerCommand, modelServerEntry } from './entry.js';
export type { LoadedModel } from './onnx-session.js';

/** The name and version `GET /v2` reports. */
const MODEL_SERVER_METADATA = { name: 'edgefleet-model-server', version: '0.1.0', extensions: [] as string[] };

/** The platform string model metadata reports, as Triton names its ONNX Runtime backend. */
const ONNX_PLATFORM = 'onnxruntime_onnx';

/** How long `close()` lets in-flight requests finish before it cuts their connections. */
const CLOSE_GRACE_MS = 5_000;

/** What {@link startModelServer} needs. */
export interface ModelServerOptions {
  modelPath: string;
  /** The name clients put in `/v2/models/<name>`: the Deployment's name. */
  modelName: string;
  /** Defaults to "1". */
  modelVersion?: string;
  /** Defaults to 127.0.0.1: the agent's workloads call it locally. */
  host?: string;
  /** 0 picks a free port; the one chosen is in the result. */
  port: number;
  /** Lifecycle and refusal events, one JSON line each; silent when absent. */
  log?: Logger;
  /** How to load the model; onnxruntime when absent. A seam for tests and for other runtimes. */
  loadModel?: (modelPath: string) => Promise<LoadedModel>;
}

/** A running server. */
export interface RunningModelServer {
  port: number;
  /** Stops accepting, lets in-flight requests finish (up to a grace period), releases the model. */
  close(): Promise<void>;
}

type Send = (status: number, body: unknown) => void;

interface ServingState {
  name: string;
  version: string;
  /** Undefined until the model has loaded: readiness and inference answer 503 until then. */
  model: LoadedModel | undefined;
  /** Runs under way: the session is released only after they settle, even past the close grace period. */
  running: Set<Promise<unknown>>;
}

function checkModel(state: ServingState, ref: ModelRef): void {
  if (ref.model !== state.name) throw new OipError(404, `unknown model '${ref.model}'; this server serves '${state.name}'`);
  if (ref.version !== undefined && ref.version !== state.version) {
    throw new OipError(404, `unknown version '${ref.version}' of model '${state.name}'; available: ${state.version}`);
  }
}

function loadedModel(state: ServingState): LoadedModel {
  if (state.model === undefined) throw new OipError(503, `model '${state.name}' is not ready yet`);
  return state.model;
}

type Handlers = { [K in OipRoute['kind']]: (route: Extract<OipRoute, { kind: K }>, req: IncomingMessage, send: Send) => Promise<void> | void };

function handlers(state: ServingState): Handlers {
  return {
    'server-metadata': (_r, _req, send) => send(200, MODEL_SERVER_METADATA),
    'server-live': (_r, _req, send) => send(200, { live: true }),
    'server-ready': (_r, _req, send) => send(state.model ? 200 : 503, { ready: state.model !== undefined }),
    'model-ready': (route, _req, send) => {
      checkModel(state, route);
      send(state.model ? 200 : 503, { name: state.name, ready: state.model !== undefined });
    },
    'model-metadata': (route, _req, send) => {
      checkModel(state, route);
      const { signature } = loadedModel(state);
      send(200, { name: state.name, versions: [state.version], platform: ONNX_PLATFORM, inputs: signature.inputs, outputs: signature.outputs });
    },
    infer: async (route, req, send) => {
      checkModel(state, route);
      const model = loadedModel(state);
      const request = decodeInferenceRequest(await readJsonBody(req), model.signature);
      const run = model.run(request);
      state.running.add(run);
      const outputs = await run.finally(() => state.running.delete(run));
      send(200, { model_name: state.name, model_version: state.version, ...(request.id === undefined ? {} : { id: request.id }), outputs });
    },
  };
}

async function dispatch(h: Handlers, req: IncomingMessage, res: ServerResponse, send: Send): Promise<void> {
  const { pathname } = new URL(req.url ?? '/', 'http://model-server');
  const route = matchOipRoute(pathname);
  if (route === undefined) throw new OipError(404, `no such endpoint: ${pathname}`);
  const method = ROUTE_METHOD[route.kind];
  if (req.method !== method) {
    res.setHeader('Allow', method);
    throw new OipError(405, `${pathname} answers ${method}, not ${req.method}`);
  }
  // The cast is safe: the record's key and the route's kind are the same value.
  await (h[route.kind] as (r: OipRoute, req: IncomingMessage, send: Send) => Promise<void> | void)(route, req, send);
}

function listen(server: ReturnType<typeof createServer>, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts serving: listens first (so liveness answers while a large model loads), then loads
 * the model and resolves once it is ready. A model that cannot be loaded rejects the promise
 * and leaves nothing listening.
 */
export async function startModelServer(opts: ModelServerOptions): Promise<RunningModelServer> {
  const log = opts.log ?? pino({ enabled: false });
  const state: ServingState = { name: opts.modelName, version: opts.modelVersion ?? '1', model: undefined, running: new Set() };
  const h = handlers(state);
  let closing = false;

  const server = createServer((req, res) => {
    const send: Send = (status, body) => {
      const text = JSON.stringify(body);
      // While closing, ask keep-alive clients to go so the server can finish closing.
      if (closing) res.setHeader('Connection', 'close');
      res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
    };
    dispatch(h, req, res, send).catch((err: unknown) => {
      if (err instanceof OipError) {
        // After a 413 the rest of the body is still arriving: close rather than read it for reuse.
        if (err.status === 413) res.setHeader('Connection', 'close');
        log.warn({ event: 'request_refused', method: req.method, url: req.url, status: err.status, error: err.message }, 'request refused');
        send(err.status, { error: err.message });
        return;
      }
      // A 5xx never carries internals to the caller; the log has them.
      log.error({ event: 'request_failed', method: req.method, url: req.url, err }, 'inference failed');
      if (!res.headersSent) send(500, { error: 'internal error: inference failed' });
    });
  });

  const host = opts.host ?? '127.0.0.1';
  const port = await listen(server, opts.port, host);
  log.info({ event: 'listening', host, port, model: state.name, version: state.version }, `listening on ${host}:${port}`);

  const stopListening = () =>
    new Promise<void>((resolve) => {
      closing = true;
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS).unref();
    });

  try {
    // onnxruntime is loaded only here, in the model server's own process: the agent (and
    // the simulator's thousands of agents) never pay for its native library.
    const load = opts.loadModel ?? (await import('./onnx-session.js')).loadOnnxModel;
    state.model = await load(opts.modelPath);
  } catch (err) {
    await stopListening();
    throw err;
  }
  log.info({ event: 'ready', model: state.name, version: state.version, path: opts.modelPath, signature: state.model.signature }, 'model loaded');

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      await stopListening();
      await Promise.allSettled(state.running);
      await state.model?.release();
      state.model = undefined;
      log.info({ event: 'stopped', model: state.name }, 'stopped');
    })();
    return closed;
  };
  return { port, close };
}
