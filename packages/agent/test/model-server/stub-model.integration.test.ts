import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLE_MLP_SPEC } from '../../src/fixtures/models/example-models.js';
import { mlpModel } from '../../src/fixtures/models/onnx-model.js';
import { stubModelJson } from '../../src/fixtures/models/stub-model.js';
import { type RunningModelServer, startModelServer } from '../../src/model-server/server.js';
import { call, firstOutputData, inferBody, type LoggingChild, spawnLogging, stopChild, tempDir } from './support.js';

const stubProgram = fileURLToPath(new URL('../../../../examples/runtimes/oip-stub.mjs', import.meta.url));
const mlp = mlpModel(EXAMPLE_MLP_SPEC);
const rows = [
  [1, 2, 3, 4],
  [0.3, -1.7, 2.2, 9.1],
];

let tmp: Awaited<ReturnType<typeof tempDir>>;
let stubPath: string;
let onnx: RunningModelServer;
const started: LoggingChild[] = [];

function spawnStub(extra: Record<string, string> = {}): LoggingChild {
  const c = spawnLogging(process.execPath, [stubProgram], {
    EDGEFLEET_MODEL_PATH: stubPath,
    EDGEFLEET_MODEL_NAME: 'mlp',
    EDGEFLEET_PORT: '0',
    ...extra,
  });
  started.push(c);
  return c;
}

async function stubBase(c: LoggingChild): Promise<string> {
  const listening = await c.event('listening');
  return `http://127.0.0.1:${listening.port as number}`;
}

beforeAll(async () => {
  tmp = await tempDir();
  stubPath = await tmp.file('mlp.stub.json', stubModelJson(mlp));
  onnx = await startModelServer({ modelPath: await tmp.file('mlp.onnx', mlp.bytes), modelName: 'mlp', port: 0 });
});

afterEach(async () => {
  await Promise.all(started.splice(0).map(stopChild));
});

afterAll(async () => {
  await onnx?.close();
  await tmp?.cleanup();
});

describe('oip-stub, the stand-in accelerator runtime', () => {
  it('serves the same numbers for the stub JSON as the ONNX server for the ONNX model', async () => {
    const base = await stubBase(spawnStub());
    const fromStub = await call(base, '/v2/models/mlp/infer', inferBody(rows, { id: 'x' }));
    const fromOnnx = await call(`http://127.0.0.1:${onnx.port}`, '/v2/models/mlp/infer', inferBody(rows, { id: 'x' }));
    expect(fromStub.status).toBe(200);
    expect(fromStub.body).toMatchObject({ model_name: 'mlp', model_version: '1', id: 'x', outputs: [{ name: 'output', datatype: 'FP32', shape: [2, 3] }] });
    const stubData = firstOutputData(fromStub);
    const onnxData = firstOutputData(fromOnnx);
    stubData.forEach((v, i) => {
      expect(Math.abs(v - onnxData[i]!)).toBeLessThanOrEqual(1e-5);
    });
    expect(stubData).toEqual(Array.from(mlp.forward(Float32Array.from(rows.flat()), 2)));
  });

  it('speaks the same protocol for health, metadata and refusals', async () => {
    const base = await stubBase(spawnStub());
    expect((await call(base, '/v2/health/ready')).status).toBe(200);
    expect((await call(base, '/v2/models/mlp/ready')).body).toEqual({ name: 'mlp', ready: true });
    expect((await call(base, '/v2/models/mlp')).body).toMatchObject({
      name: 'mlp',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }],
    });
    const wrongShape = await call(base, '/v2/models/mlp/infer', inferBody([[1, 2, 3]]));
    expect(wrongShape.status).toBe(400);
    expect(wrongShape.body.error).toMatch(/shape must be \[N, 4\]/);
    expect((await call(base, '/v2/models/mlp/infer', '{nope')).status).toBe(400);
    expect((await call(base, '/v2/models/other/infer', inferBody(rows))).status).toBe(404);
  });

  it('exits 3 while the crash file exists, and serves again once it is gone', async () => {
    const crashFile = await tmp.file('crash', '');
    const crashed = await spawnStub({ EDGEFLEET_STUB_CRASH_FILE: crashFile }).exited;
    expect(crashed.code).toBe(3);
    expect(crashed.stderr).toMatch(/crash file .* exists/);

    await rm(crashFile);
    const c = spawnStub({ EDGEFLEET_STUB_CRASH_FILE: crashFile });
    const base = await stubBase(c);
    expect((await call(base, '/v2/models/mlp/infer', inferBody(rows))).status).toBe(200);
    c.child.kill('SIGTERM');
    expect((await c.exited).code).toBe(0);
  });

  it('exits 2 for a file that is not a stub model', async () => {
    const notStub = await tmp.file('model.onnx', mlp.bytes);
    const exit = await spawnStub({ EDGEFLEET_MODEL_PATH: notStub }).exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/cannot read model/);
  });
});
