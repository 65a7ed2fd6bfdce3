import { afterEach, describe, expect, it } from 'vitest';
import { EXAMPLE_MLP_SPEC } from '../../src/fixtures/models/example-models.js';
import { mlpModel } from '../../src/fixtures/models/onnx-model.js';
import { modelServerEntry, modelServerEnv } from '../../src/model-server/entry.js';
import { call, firstOutputData, inferBody, type LoggingChild, spawnLogging, stopChild, tempDir } from './support.js';

const mlp = mlpModel(EXAMPLE_MLP_SPEC);
const started: LoggingChild[] = [];
const dirs: Awaited<ReturnType<typeof tempDir>>[] = [];

/** Spawns main the way the agent does: `spawn(entry.command, entry.args, { env })`. */
function spawnServer(env: Record<string, string>): LoggingChild {
  const entry = modelServerEntry();
  const c = spawnLogging(entry.command, entry.args, env);
  started.push(c);
  return c;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map(stopChild));
  await Promise.all(dirs.splice(0).map((d) => d.cleanup()));
});

describe('model server as a child process', () => {
  it('serves inference, logs JSON lines, and exits 0 on SIGTERM', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const modelPath = await dir.file('mlp.onnx', mlp.bytes);
    const c = spawnServer(modelServerEnv({ modelPath, modelName: 'mlp', modelVersion: '5', host: '127.0.0.1', port: 0 }));
    const listening = await c.event('listening');
    await c.event('ready');
    const base = `http://127.0.0.1:${listening.port as number}`;

    const answer = await call(base, '/v2/models/mlp/infer', inferBody([[1, 2, 3, 4]]));
    expect(answer.body).toMatchObject({ model_name: 'mlp', model_version: '5' });
    expect(firstOutputData(answer)).toEqual(Array.from(mlp.forward(Float32Array.of(1, 2, 3, 4), 1)));
    // Every stdout line is a JSON object naming its event.
    expect(c.lines.every((l) => typeof l.event === 'string')).toBe(true);

    c.child.kill('SIGTERM');
    const exit = await c.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(c.lines.map((l) => l.event)).toEqual(expect.arrayContaining(['signal', 'stopped']));
    await expect(fetch(`${base}/v2/health/live`)).rejects.toThrow();
  });

  it('exits 1 with a clear stderr line when the model cannot be loaded', async () => {
    const c = spawnServer(modelServerEnv({ modelPath: '/nonexistent/model.onnx', modelName: 'mlp', modelVersion: '1', host: '127.0.0.1', port: 0 }));
    const exit = await c.exited;
    expect(exit.code).toBe(1);
    expect(exit.stderr.trim()).toBe(
      "edgefleet model server: cannot serve model 'mlp' from /nonexistent/model.onnx: model file not found or not readable: /nonexistent/model.onnx",
    );
  });

  it('exits 2 when the environment is incomplete', async () => {
    const c = spawnServer({ EDGEFLEET_MODEL_PATH: '', EDGEFLEET_MODEL_NAME: '', EDGEFLEET_PORT: '' });
    const exit = await c.exited;
    expect(exit.code).toBe(2);
    expect(exit.stderr).toMatch(/EDGEFLEET_MODEL_PATH is not set/);
  });
});
