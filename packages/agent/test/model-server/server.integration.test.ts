import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MLP_SPEC } from '../../src/fixtures/models/example-models.js';
import { mlpModel } from '../../src/fixtures/models/onnx-model.js';
import { encodeOnnxModel, OnnxElemType } from '../../src/fixtures/models/onnx-proto.js';
import { type LoadedModel, loadOnnxModel } from '../../src/model-server/onnx-session.js';
import { type RunningModelServer, startModelServer } from '../../src/model-server/server.js';
import { call, firstOutputData, inferBody, tempDir } from './support.js';

const mlp = mlpModel(EXAMPLE_MLP_SPEC);
const rows = [
  [1, 2, 3, 4],
  [-0.5, 0.25, 8, -3],
];
const expected = Array.from(mlp.forward(Float32Array.from(rows.flat()), 2));

/** y = Identity(x) for one element type: enough to check a datatype's round trip. */
function identityModel(elemType: OnnxElemType): Uint8Array {
  return encodeOnnxModel({
    name: 'identity',
    nodes: [{ name: 'id', opType: 'Identity', inputs: ['x'], outputs: ['y'] }],
    initializers: [],
    inputs: [{ name: 'x', elemType, shape: ['N'] }],
    outputs: [{ name: 'y', elemType, shape: ['N'] }],
  });
}

function expectClose(actual: readonly number[], wanted: readonly number[]): void {
  expect(actual).toHaveLength(wanted.length);
  actual.forEach((v, i) => {
    expect(Math.abs(v - wanted[i]!)).toBeLessThanOrEqual(1e-5);
  });
}

let tmp: Awaited<ReturnType<typeof tempDir>>;
let server: RunningModelServer;
let base: string;

beforeAll(async () => {
  tmp = await tempDir();
  const modelPath = await tmp.file('mlp.onnx', mlp.bytes);
  server = await startModelServer({ modelPath, modelName: 'detector', modelVersion: '3', port: 0 });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.close();
  await tmp?.cleanup();
});

describe('model server: health and metadata', () => {
  it('is live and ready once started', async () => {
    expect(await call(base, '/v2/health/live')).toMatchObject({ status: 200, body: { live: true } });
    expect(await call(base, '/v2/health/ready')).toMatchObject({ status: 200, body: { ready: true } });
    expect(await call(base, '/v2/models/detector/ready')).toMatchObject({ status: 200, body: { name: 'detector', ready: true } });
    expect(await call(base, '/v2/models/detector/versions/3/ready')).toMatchObject({ status: 200 });
  });

  it('describes itself and the model, with -1 for the dynamic batch dimension', async () => {
    const meta = await call(base, '/v2');
    expect(meta).toMatchObject({ status: 200, body: { name: 'edgefleet-model-server', extensions: [] } });
    expect(meta.headers.get('content-type')).toBe('application/json');
    const model = await call(base, '/v2/models/detector');
    expect(model.status).toBe(200);
    expect(model.body).toEqual({
      name: 'detector',
      versions: ['3'],
      platform: 'onnxruntime_onnx',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }],
    });
    expect((await call(base, '/v2/models/detector/versions/3')).body).toEqual(model.body);
  });
});

describe('model server: inference', () => {
  it('answers a batch of two with the numbers of forward()', async () => {
    const answer = await call(base, '/v2/models/detector/infer', inferBody(rows, { id: 'req-42' }));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      model_name: 'detector',
      model_version: '3',
      id: 'req-42',
      outputs: [{ name: 'output', datatype: 'FP32', shape: [2, 3] }],
    });
    expectClose(firstOutputData(answer), expected);
  });

  it('takes nested data, a versioned path and an explicit output list; omits id when none was sent', async () => {
    const body = { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: rows }], outputs: [{ name: 'output' }] };
    const answer = await call(base, '/v2/models/detector/versions/3/infer', body);
    expect(answer.status).toBe(200);
    expect(answer.body).not.toHaveProperty('id');
    expectClose(firstOutputData(answer), expected);
  });

  it('serves concurrent requests', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(base, '/v2/models/detector/infer', inferBody([[i, 1, 2, 3]]))));
    answers.forEach((a, i) => {
      expectClose(firstOutputData(a), Array.from(mlp.forward(Float32Array.of(i, 1, 2, 3), 1)));
    });
  });
});

describe('model server: refusals', () => {
  it.each([
    ['an unknown input', { inputs: [{ name: 'image', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /input 'image' is not an input of this model/],
    ['the wrong shape', { inputs: [{ name: 'input', shape: [2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }, /does not fit the model's \[-1, 4\]/],
    ['the wrong datatype', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] }] }, /datatype "INT64" does not match/],
    ['a data length mismatch', { inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }, /holds 8 elements but "data" has 4/],
    ['an unknown output', inferBody(rows, { outputs: [{ name: 'logits' }] }), /output 'logits' is not an output/],
    ['malformed JSON', '{"inputs": [', /malformed JSON/],
    ['an empty body', '', /request body is empty/],
  ])('400 for %s, with a message', async (_what, body, message) => {
    const answer = await call(base, '/v2/models/detector/infer', body, 'POST');
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(message);
    expect(Object.keys(answer.body)).toEqual(['error']);
  });

  it('404 for an unknown model, version or endpoint', async () => {
    const unknown = await call(base, '/v2/models/classifier/infer', inferBody(rows));
    expect(unknown).toMatchObject({ status: 404, body: { error: "unknown model 'classifier'; this server serves 'detector'" } });
    expect((await call(base, '/v2/models/classifier')).status).toBe(404);
    expect((await call(base, '/v2/models/classifier/ready')).status).toBe(404);
    expect((await call(base, '/v2/models/detector/versions/9/infer', inferBody(rows))).body.error).toMatch(/unknown version '9'/);
    expect(await call(base, '/v1/models/detector')).toMatchObject({ status: 404, body: { error: 'no such endpoint: /v1/models/detector' } });
  });

  it('405 with Allow for the wrong method', async () => {
    const get = await call(base, '/v2/models/detector/infer');
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await call(base, '/v2/health/live', {}, 'POST')).status).toBe(405);
  });

  it('413 for a body over 8 MiB, sent with a length or chunked, and keeps serving', async () => {
    const huge = JSON.stringify(inferBody([new Array(1_200_000).fill(0.123456)]));
    expect(huge.length).toBeGreaterThan(8 * 1024 * 1024);
    const sized = await fetch(`${base}/v2/models/detector/infer`, { method: 'POST', body: huge });
    expect(sized.status).toBe(413);
    expect(((await sized.json()) as { error: string }).error).toMatch(/exceeds 8388608 bytes/);
    const chunked = await fetch(`${base}/v2/models/detector/infer`, { method: 'POST', body: new Blob([huge]).stream(), duplex: 'half' } as RequestInit);
    expect(chunked.status).toBe(413);
    await chunked.text();
    expect((await call(base, '/v2/models/detector/infer', inferBody(rows))).status).toBe(200);
  });
});

describe('model server: datatypes and lifecycle', () => {
  it.each([
    [OnnxElemType.INT64, 'INT64', [-3, 0, 2 ** 40]],
    [OnnxElemType.INT32, 'INT32', [-(2 ** 31), 7, 2 ** 31 - 1]],
    [OnnxElemType.DOUBLE, 'FP64', [0.1, -1e300, Math.PI]],
  ])('round-trips %s tensors (%s) exactly', async (elemType, datatype, data) => {
    const dir = await tempDir();
    const s = await startModelServer({ modelPath: await dir.file('id.onnx', identityModel(elemType)), modelName: 'id', port: 0 });
    try {
      const url = `http://127.0.0.1:${s.port}`;
      expect((await call(url, '/v2/models/id')).body).toMatchObject({ versions: ['1'], inputs: [{ name: 'x', datatype, shape: [-1] }] });
      const answer = await call(url, '/v2/models/id/infer', { inputs: [{ name: 'x', shape: [3], datatype, data }] });
      expect(answer.body).toMatchObject({ model_version: '1', outputs: [{ name: 'y', datatype, shape: [3], data }] });
    } finally {
      await s.close();
      await dir.cleanup();
    }
  });

  it('is live but not ready while the model loads, and ready after', async () => {
    const dir = await tempDir();
    const modelPath = await dir.file('m.onnx', mlp.bytes);
    let finishLoading!: () => void;
    const gate = new Promise<void>((resolve) => {
      finishLoading = resolve;
    });
    let announced!: (port: number) => void;
    const listening = new Promise<number>((resolve) => {
      announced = resolve;
    });
    // The port is only known from the 'listening' log line until startModelServer resolves.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        const line = JSON.parse(chunk.toString('utf8')) as { event?: string; port?: number };
        if (line.event === 'listening' && line.port !== undefined) announced(line.port);
        done();
      },
    });
    const slowLoad = async (p: string): Promise<LoadedModel> => {
      await gate;
      return loadOnnxModel(p);
    };
    const starting = startModelServer({ modelPath, modelName: 'm', port: 0, log: pino(sink), loadModel: slowLoad });
    const url = `http://127.0.0.1:${await listening}`;
    try {
      expect(await call(url, '/v2/health/live')).toMatchObject({ status: 200, body: { live: true } });
      expect(await call(url, '/v2/health/ready')).toMatchObject({ status: 503, body: { ready: false } });
      expect(await call(url, '/v2/models/m/ready')).toMatchObject({ status: 503, body: { name: 'm', ready: false } });
      expect(await call(url, '/v2/models/m/infer', inferBody(rows))).toMatchObject({ status: 503, body: { error: "model 'm' is not ready yet" } });
      finishLoading();
      const s = await starting;
      expect((await call(url, '/v2/health/ready')).status).toBe(200);
      await s.close();
    } finally {
      finishLoading();
      await dir.cleanup();
    }
  });

  it('rejects a missing or corrupt model file and leaves nothing listening', async () => {
    const dir = await tempDir();
    try {
      // Reserve a port, free it, and ask the failing server for it: afterwards it must be free again.
      const port = await new Promise<number>((resolve) => {
        const probe = createServer().listen(0, '127.0.0.1', () => {
          const p = (probe.address() as { port: number }).port;
          probe.close(() => resolve(p));
        });
      });
      await expect(startModelServer({ modelPath: `${dir.dir}/nope.onnx`, modelName: 'm', port })).rejects.toThrow(
        /model file not found or not readable: .*nope\.onnx/,
      );
      const junk = await dir.file('junk.onnx', 'this is not protobuf');
      await expect(startModelServer({ modelPath: junk, modelName: 'm', port })).rejects.toThrow(/onnxruntime cannot load .*junk\.onnx/);
      await expect(fetch(`http://127.0.0.1:${port}/v2/health/live`)).rejects.toThrow();
    } finally {
      await dir.cleanup();
    }
  });

  it('closes once, however often close() is called, and then refuses connections', async () => {
    const dir = await tempDir();
    const s = await startModelServer({ modelPath: await dir.file('m.onnx', mlp.bytes), modelName: 'm', port: 0 });
    const url = `http://127.0.0.1:${s.port}`;
    expect((await call(url, '/v2/health/ready')).status).toBe(200);
    await Promise.all([s.close(), s.close()]);
    await s.close();
    await expect(fetch(`${url}/v2/health/live`)).rejects.toThrow();
    await dir.cleanup();
  });
});
