import { readFile } from 'node:fs/promises';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_INPUT, EXAMPLE_MLP_SPEC, exampleModelsReadme } from '../../src/model-server/example-models.js';
import { type DenseModel, denseModel, linearModel, mlpModel } from '../../src/model-server/onnx-model.js';
import { STUB_MODEL_FORMAT, stubModel, stubModelJson } from '../../src/model-server/stub-model.js';

const repoRoot = new URL('../../../../', import.meta.url);

async function runInOrt(model: DenseModel, x: Float32Array, batch: number): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await InferenceSession.create(model.bytes, { intraOpNumThreads: 1 });
  try {
    const out = await session.run({ input: new Tensor('float32', x, [batch, model.inputs]) });
    const t = out.output;
    if (t === undefined) throw new Error('no output');
    return { data: t.data as Float32Array, dims: t.dims };
  } finally {
    await session.release();
  }
}

/** Values that are not multiples of 1/64, so float32 rounding really happens. */
function noisyInput(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 3.7);
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++)
    expect(Math.abs(actual[i]! - expected[i]!), `element ${i}: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(tol);
}

describe('ONNX test models', () => {
  it('the MLP loads in onnxruntime-node with a symbolic batch dimension', async () => {
    const session = await InferenceSession.create(mlpModel(EXAMPLE_MLP_SPEC).bytes, { intraOpNumThreads: 1 });
    expect(session.inputNames).toEqual(['input']);
    expect(session.outputNames).toEqual(['output']);
    expect(session.inputMetadata[0]).toMatchObject({ name: 'input', isTensor: true, type: 'float32', shape: ['N', 4] });
    expect(session.outputMetadata[0]).toMatchObject({ name: 'output', isTensor: true, type: 'float32', shape: ['N', 3] });
    await session.release();
  });

  it.each([1, 2, 7])('the MLP gives the numbers of forward() for a batch of %i', async (batch) => {
    const mlp = mlpModel(EXAMPLE_MLP_SPEC);
    const x = noisyInput(batch * 4, batch);
    const { data, dims } = await runInOrt(mlp, x, batch);
    expect(dims).toEqual([batch, 3]);
    expectClose(data, mlp.forward(x, batch));
  });

  it('gives exact numbers for the example input, as the README promises', async () => {
    const mlp = mlpModel(EXAMPLE_MLP_SPEC);
    const { data } = await runInOrt(mlp, EXAMPLE_INPUT, 1);
    expect(Array.from(data)).toEqual(Array.from(mlp.forward(EXAMPLE_INPUT, 1)));
    expect(Array.from(data)).toEqual([-1.5078125, -1.72021484375, 1.166748046875]);
  });

  it('a wider MLP and the linear model agree with forward() too', async () => {
    for (const model of [mlpModel({ inputs: 16, hidden: 32, outputs: 5, seed: 7 }), linearModel({ inputs: 3, outputs: 2, seed: 1 })]) {
      const x = noisyInput(3 * model.inputs, 3);
      expectClose((await runInOrt(model, x, 3)).data, model.forward(x, 3));
    }
  });

  it('the linear model has no Relu: negative outputs survive', async () => {
    const lin = linearModel({ inputs: 3, outputs: 2, seed: 1 });
    expect(lin.weights.layers).toHaveLength(1);
    expect(lin.weights.layers[0]?.relu).toBe(false);
    const y = lin.forward(Float32Array.of(-5, -5, -5, 5, 5, 5), 2);
    expect(Array.from(y).some((v) => v < 0)).toBe(true);
  });

  it('is deterministic in its seed, with weights that are multiples of 1/64 in [-1, 1)', () => {
    const a = mlpModel(EXAMPLE_MLP_SPEC);
    expect(Buffer.from(mlpModel(EXAMPLE_MLP_SPEC).bytes).equals(Buffer.from(a.bytes))).toBe(true);
    expect(Buffer.from(mlpModel({ ...EXAMPLE_MLP_SPEC, seed: 43 }).bytes).equals(Buffer.from(a.bytes))).toBe(false);
    for (const layer of a.weights.layers) {
      for (const v of [...layer.weights, ...layer.bias]) {
        expect(Number.isInteger(v * 64)).toBe(true);
        expect(v).toBeGreaterThanOrEqual(-1);
        expect(v).toBeLessThan(1);
      }
    }
  });

  it('refuses layers that do not chain or whose sizes are wrong', () => {
    const layer = (inputs: number, outputs: number) => ({
      inputs,
      outputs,
      weights: new Float32Array(inputs * outputs),
      bias: new Float32Array(outputs),
      relu: false,
    });
    expect(() => denseModel('x', [])).toThrow(/at least one layer/);
    expect(() => denseModel('x', [layer(2, 3), layer(4, 1)])).toThrow(/layer 2 takes 4 inputs but layer 1 gives 3/);
    expect(() => denseModel('x', [{ ...layer(2, 3), bias: new Float32Array(2) }])).toThrow(/size mismatch/);
    expect(() => mlpModel(EXAMPLE_MLP_SPEC).forward(new Float32Array(3), 1)).toThrow(RangeError);
  });

  it('the stub format lays weights out as w[input][output]', () => {
    const mlp = mlpModel(EXAMPLE_MLP_SPEC);
    const stub = stubModel(mlp);
    expect(stub.format).toBe(STUB_MODEL_FORMAT);
    expect(stub.layers.map((l) => [l.w.length, l.w[0]?.length, l.b.length, l.relu])).toEqual([
      [4, 8, 8, true],
      [8, 3, 3, false],
    ]);
    const first = mlp.weights.layers[0]!;
    expect(stub.layers[0]?.w[2]?.[5]).toBe(first.weights[2 * 8 + 5]);
    expect(JSON.parse(stubModelJson(mlp))).toEqual(stub);
  });

  it('the committed examples/models files are what scripts/write-onnx-models.ts writes', async () => {
    const mlp = mlpModel(EXAMPLE_MLP_SPEC);
    const onnx = await readFile(new URL('examples/models/mlp-4-8-3.onnx', repoRoot));
    expect(onnx.equals(Buffer.from(mlp.bytes))).toBe(true);
    expect(await readFile(new URL('examples/models/mlp-4-8-3.stub.json', repoRoot), 'utf8')).toBe(stubModelJson(mlp));
    const readme = await readFile(new URL('examples/models/README.md', repoRoot), 'utf8');
    expect(readme).toBe(exampleModelsReadme(Array.from(mlp.forward(EXAMPLE_INPUT, 1))));
    expect(readme).toContain('[-1.5078125, -1.72021484375, 1.166748046875]');
  });
});
