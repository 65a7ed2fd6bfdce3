#!/usr/bin/env node
/**
 * A stand-in for a vendor accelerator runtime (HailoRT) in tests: a dependency-free Node
 * program that serves one "compiled model" over the Open Inference Protocol (KServe v2
 * REST), as the agent's built-in ONNX server does, so the agent's primary/fallback logic
 * can be exercised on a machine without an accelerator.
 *
 * The model file is JSON, `{"format":"edgefleet-stub-v1","layers":[{"w":[[...]],"b":[...],
 * "relu":true}, ...]}`, where each layer computes y = x·w + b (w is [inputs][outputs]) and
 * then Relu if `relu`. `stubModelJson()` in packages/agent/src/fixtures/models/stub-model.ts
 * writes one from the same weights as an ONNX model, so both runtimes give the same numbers.
 *
 * Environment: EDGEFLEET_MODEL_PATH, EDGEFLEET_MODEL_NAME, EDGEFLEET_PORT (0 = any free port,
 * logged), EDGEFLEET_HOST (127.0.0.1), EDGEFLEET_MODEL_VERSION ("1"), and
 * EDGEFLEET_STUB_CRASH_FILE: while that file exists the program exits 3 at start, so a test
 * can make the runtime crash-loop and then let it recover by deleting the file.
 * EDGEFLEET_STUB_DELAY_MS adds that many milliseconds to every inference and
 * EDGEFLEET_STUB_ERROR_RATE (0..1) answers that share of inferences with a 500, so a test can
 * rehearse a slower or failing release (rollout gates). EDGEFLEET_STUB_LOG_LINE, when set, is
 * printed as a plain stdout line after every inference (the way chatty application code logs
 * request details), so a test can follow a workload's lines through the node's log pipeline.
 *
 * Exit codes: 0 after SIGTERM/SIGINT, 1 when it cannot listen, 2 for a bad environment or model
 * file, 3 for the crash file.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const FORMAT = 'edgefleet-stub-v1';
const MAX_BODY_BYTES = 8 * 1024 * 1024;

const log = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ time: Date.now(), component: 'oip-stub', event, ...fields })}\n`);

function fail(code, message) {
  process.stderr.write(`oip-stub: ${message}\n`);
  process.exit(code);
}

const env = process.env;
const delayMs = Number(env.EDGEFLEET_STUB_DELAY_MS ?? 0) || 0;
const errorRate = Number(env.EDGEFLEET_STUB_ERROR_RATE ?? 0) || 0;
const logLine = env.EDGEFLEET_STUB_LOG_LINE ?? '';
if (env.EDGEFLEET_STUB_CRASH_FILE && existsSync(env.EDGEFLEET_STUB_CRASH_FILE)) {
  fail(3, `crash file ${env.EDGEFLEET_STUB_CRASH_FILE} exists: exiting as a crashed runtime would`);
}
const modelPath = env.EDGEFLEET_MODEL_PATH ?? '';
const modelName = env.EDGEFLEET_MODEL_NAME ?? '';
const modelVersion = env.EDGEFLEET_MODEL_VERSION || '1';
const host = env.EDGEFLEET_HOST || '127.0.0.1';
const port = Number(env.EDGEFLEET_PORT ?? '');
if (modelPath === '' || modelName === '') fail(2, 'EDGEFLEET_MODEL_PATH and EDGEFLEET_MODEL_NAME must be set');
if ((env.EDGEFLEET_PORT ?? '').trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) fail(2, 'EDGEFLEET_PORT must be a port number');

/** Reads and checks the compiled model: every layer rectangular and chained to the next. */
function loadModel(path) {
  let model;
  try {
    model = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    fail(2, `cannot read model ${path}: ${err.message}`);
  }
  if (model?.format !== FORMAT || !Array.isArray(model.layers) || model.layers.length === 0) fail(2, `${path} is not an ${FORMAT} model`);
  let width;
  model.layers.forEach((layer, k) => {
    const rows = layer.w;
    const outputs = layer.b?.length;
    const ok =
      Array.isArray(rows) && rows.length > 0 && rows.every((r) => Array.isArray(r) && r.length === outputs) && (width === undefined || width === rows.length);
    if (!ok) fail(2, `${path}: layer ${k + 1} has inconsistent sizes`);
    width = outputs;
  });
  return { layers: model.layers, inputs: model.layers[0].w.length, outputs: width };
}

const model = loadModel(modelPath);

/** One row through every layer in float32 arithmetic, as an FP32 model computes: inputs are FP32 too. */
function evaluate(row) {
  let x = row.map(Math.fround);
  for (const { w, b, relu } of model.layers) {
    x = b.map((bias, j) => {
      let sum = 0;
      for (let i = 0; i < x.length; i++) sum = Math.fround(sum + Math.fround(x[i] * w[i][j]));
      sum = Math.fround(sum + bias);
      return relu && sum < 0 ? 0 : sum;
    });
  }
  return x;
}

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) {
      req.resume();
      reject(new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
      return;
    }
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) chunks.push(c);
      else reject(new HttpError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(new HttpError(400, `malformed JSON: ${err.message}`));
      }
    });
  });
}

/** Checks the single FP32 input [N, inputs] and returns its rows. */
function inputRows(body) {
  const inputs = body?.inputs;
  if (!Array.isArray(inputs) || inputs.length !== 1) throw new HttpError(400, '"inputs" must hold exactly one tensor, "input"');
  const { name, datatype, shape, data } = inputs[0] ?? {};
  if (name !== 'input') throw new HttpError(400, `input '${name}' is not an input of this model; it takes: input`);
  if (datatype !== 'FP32') throw new HttpError(400, `input 'input': datatype ${JSON.stringify(datatype)} does not match the model's FP32`);
  if (!Array.isArray(shape) || shape.length !== 2 || !Number.isInteger(shape[0]) || shape[0] < 0 || shape[1] !== model.inputs) {
    throw new HttpError(400, `input 'input': shape must be [N, ${model.inputs}]`);
  }
  const flat = Array.isArray(data) ? data.flat(Number.POSITIVE_INFINITY) : undefined;
  if (flat === undefined || flat.length !== shape[0] * shape[1]) throw new HttpError(400, `input 'input': "data" must hold ${shape[0] * shape[1]} numbers`);
  if (!flat.every((v) => typeof v === 'number' && Number.isFinite(v))) throw new HttpError(400, `input 'input': "data" must hold finite numbers`);
  return Array.from({ length: shape[0] }, (_, r) => flat.slice(r * model.inputs, (r + 1) * model.inputs));
}

const tensorMeta = (name, width) => ({ name, datatype: 'FP32', shape: [-1, width] });

function route(pathname) {
  const p = pathname.replace(/\/$/, '');
  if (p === '/v2') return { method: 'GET', body: () => ({ name: 'edgefleet-oip-stub', version: '1', extensions: [] }) };
  if (p === '/v2/health/live') return { method: 'GET', body: () => ({ live: true }) };
  if (p === '/v2/health/ready') return { method: 'GET', body: () => ({ ready: true }) };
  const m = /^\/v2\/models\/([^/]+)(?:\/versions\/([^/]+))?(\/ready|\/infer)?$/.exec(p);
  if (m === null) return undefined;
  const [, name, version, action] = m;
  if (decodeURIComponent(name) !== modelName) throw new HttpError(404, `unknown model '${decodeURIComponent(name)}'; this server serves '${modelName}'`);
  if (version !== undefined && decodeURIComponent(version) !== modelVersion) throw new HttpError(404, `unknown version '${version}' of model '${modelName}'`);
  if (action === '/ready') return { method: 'GET', body: () => ({ name: modelName, ready: true }) };
  if (action === '/infer') {
    return {
      method: 'POST',
      body: async (req) => {
        const request = await readJson(req);
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        if (errorRate > 0 && Math.random() < errorRate) throw new HttpError(500, 'injected inference failure (EDGEFLEET_STUB_ERROR_RATE)');
        if (request?.id !== undefined && typeof request.id !== 'string') throw new HttpError(400, '"id" must be a string');
        const rows = inputRows(request);
        const output = { name: 'output', datatype: 'FP32', shape: [rows.length, model.outputs], data: rows.flatMap(evaluate) };
        if (logLine !== '') process.stdout.write(`${logLine}\n`);
        return { model_name: modelName, model_version: modelVersion, ...(request.id === undefined ? {} : { id: request.id }), outputs: [output] };
      },
    };
  }
  const metadata = {
    name: modelName,
    versions: [modelVersion],
    platform: 'edgefleet_stub',
    inputs: [tensorMeta('input', model.inputs)],
    outputs: [tensorMeta('output', model.outputs)],
  };
  return { method: 'GET', body: () => metadata };
}

const server = createServer(async (req, res) => {
  const send = (status, body) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) }).end(text);
  };
  try {
    const { pathname } = new URL(req.url ?? '/', 'http://stub');
    const r = route(pathname);
    if (r === undefined) throw new HttpError(404, `no such endpoint: ${pathname}`);
    if (req.method !== r.method) {
      res.setHeader('Allow', r.method);
      throw new HttpError(405, `${pathname} answers ${r.method}, not ${req.method}`);
    }
    send(200, await r.body(req));
  } catch (err) {
    const status = err instanceof HttpError ? err.status : err instanceof URIError ? 400 : 500;
    if (status === 413) res.setHeader('Connection', 'close');
    log('request_refused', { method: req.method, url: req.url, status, error: err.message });
    send(status, { error: status === 500 ? 'internal error' : err.message });
  }
});

server.on('error', (err) => fail(1, `cannot serve on ${host}:${port}: ${err.message}`));
server.listen(port, host, () => {
  log('listening', { host, port: server.address().port, model: modelName, version: modelVersion, path: modelPath });
  log('ready', { model: modelName, inputs: model.inputs, outputs: model.outputs });
});

const stop = (signal) => {
  log('signal', { signal });
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  setTimeout(() => process.exit(0), 5_000).unref();
};
process.once('SIGTERM', () => stop('SIGTERM'));
process.once('SIGINT', () => stop('SIGINT'));
