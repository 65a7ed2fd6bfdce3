/**
 * Small real ONNX models with known weights, for tests and examples of the model server:
 * a stack of dense layers (MatMul + Add, optionally Relu) whose weights come from a seed,
 * and a plain TypeScript `forward` that computes the same numbers.
 */

import { mulberry32 } from '@edgefleet/protocol';
import { encodeOnnxModel, float32RawData, OnnxElemType, type OnnxInitializer, type OnnxNode } from './onnx-proto.js';

/** One dense layer: y = x·W + b, then Relu when `relu` is set. */
export interface DenseLayer {
  inputs: number;
  outputs: number;
  /** Row-major [inputs, outputs]: `weights[i * outputs + j]` links input i to output j. */
  weights: Float32Array;
  bias: Float32Array;
  relu: boolean;
}

/** A dense model as ONNX bytes together with its weights and a reference forward pass. */
export interface DenseModel {
  /** The `.onnx` file's bytes. */
  bytes: Uint8Array;
  inputs: number;
  outputs: number;
  weights: { layers: readonly DenseLayer[] };
  /** Row-major `batch × inputs` in, row-major `batch × outputs` out, in float32 like the runtime. */
  forward(x: Float32Array, batch: number): Float32Array;
}

/** The graph's input tensor name: `[N, inputs]` FP32, N symbolic. */
export const MODEL_INPUT_NAME = 'input';
/** The graph's output tensor name: `[N, outputs]` FP32. */
export const MODEL_OUTPUT_NAME = 'output';

/**
 * Weights are multiples of 1/64 in [-1, 1): exact in float32, so for small integer inputs the
 * runtime's sums are exact too and every implementation (ORT, the stub, `forward`) agrees to
 * the last bit, and the numbers stay short in JSON and docs.
 */
function drawWeights(random: () => number, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(random() * 128 - 64) / 64;
  return out;
}

function denseForward(layers: readonly DenseLayer[], x: Float32Array, batch: number): Float32Array {
  let current = x;
  for (const layer of layers) {
    if (current.length !== batch * layer.inputs) throw new RangeError(`expected ${batch * layer.inputs} values, got ${current.length}`);
    const next = new Float32Array(batch * layer.outputs);
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < layer.outputs; j++) {
        let sum = 0;
        // Math.fround after each step mirrors a float32 kernel's rounding.
        for (let i = 0; i < layer.inputs; i++) sum = Math.fround(sum + Math.fround(current[r * layer.inputs + i]! * layer.weights[i * layer.outputs + j]!));
        sum = Math.fround(sum + layer.bias[j]!);
        next[r * layer.outputs + j] = layer.relu && sum < 0 ? 0 : sum;
      }
    }
    current = next;
  }
  return current;
}

function denseGraphParts(layers: readonly DenseLayer[]): { nodes: OnnxNode[]; initializers: OnnxInitializer[] } {
  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = [];
  let x = MODEL_INPUT_NAME;
  layers.forEach((layer, k) => {
    const n = k + 1;
    const last = k === layers.length - 1;
    initializers.push(
      { name: `W${n}`, dims: [layer.inputs, layer.outputs], elemType: OnnxElemType.FLOAT, rawData: float32RawData(layer.weights) },
      { name: `B${n}`, dims: [layer.outputs], elemType: OnnxElemType.FLOAT, rawData: float32RawData(layer.bias) },
    );
    const sum = last && !layer.relu ? MODEL_OUTPUT_NAME : `sum${n}`;
    nodes.push({ name: `matmul${n}`, opType: 'MatMul', inputs: [x, `W${n}`], outputs: [`mm${n}`] });
    nodes.push({ name: `add${n}`, opType: 'Add', inputs: [`mm${n}`, `B${n}`], outputs: [sum] });
    x = sum;
    if (layer.relu) {
      x = last ? MODEL_OUTPUT_NAME : `relu${n}`;
      nodes.push({ name: `relu${n}`, opType: 'Relu', inputs: [sum], outputs: [x] });
    }
  });
  return { nodes, initializers };
}

/** Builds a dense model from explicit layers; the layers' widths must chain. */
export function denseModel(name: string, layers: readonly DenseLayer[]): DenseModel {
  const first = layers[0];
  const last = layers[layers.length - 1];
  if (first === undefined || last === undefined) throw new RangeError('a dense model needs at least one layer');
  layers.forEach((l, k) => {
    if (l.weights.length !== l.inputs * l.outputs || l.bias.length !== l.outputs) throw new RangeError(`layer ${k + 1}: weight or bias size mismatch`);
    const prev = layers[k - 1];
    if (prev !== undefined && prev.outputs !== l.inputs) throw new RangeError(`layer ${k + 1} takes ${l.inputs} inputs but layer ${k} gives ${prev.outputs}`);
  });
  const { nodes, initializers } = denseGraphParts(layers);
  const bytes = encodeOnnxModel({
    name,
    nodes,
    initializers,
    // "N" is a symbolic batch dimension, so one model serves any batch size.
    inputs: [{ name: MODEL_INPUT_NAME, elemType: OnnxElemType.FLOAT, shape: ['N', first.inputs] }],
    outputs: [{ name: MODEL_OUTPUT_NAME, elemType: OnnxElemType.FLOAT, shape: ['N', last.outputs] }],
  });
  return { bytes, inputs: first.inputs, outputs: last.outputs, weights: { layers }, forward: (x, batch) => denseForward(layers, x, batch) };
}

function seededLayer(random: () => number, inputs: number, outputs: number, relu: boolean): DenseLayer {
  // Weights before bias, layer by layer: the draw order is part of what a seed means.
  const weights = drawWeights(random, inputs * outputs);
  const bias = drawWeights(random, outputs);
  return { inputs, outputs, weights, bias, relu };
}

/** Sizes and seed of {@link mlpModel}. */
export interface MlpSpec {
  inputs: number;
  hidden: number;
  outputs: number;
  seed: number;
}

/** A two-layer perceptron, MatMul+Add+Relu+MatMul+Add, with deterministic weights from `seed`. */
export function mlpModel(spec: MlpSpec): DenseModel {
  const random = mulberry32(spec.seed);
  const hidden = seededLayer(random, spec.inputs, spec.hidden, true);
  const out = seededLayer(random, spec.hidden, spec.outputs, false);
  return denseModel(`mlp-${spec.inputs}-${spec.hidden}-${spec.outputs}`, [hidden, out]);
}

/** A single affine layer y = xW + b (MatMul+Add) with deterministic weights from `seed`. */
export function linearModel(spec: { inputs: number; outputs: number; seed: number }): DenseModel {
  const random = mulberry32(spec.seed);
  return denseModel(`linear-${spec.inputs}-${spec.outputs}`, [seededLayer(random, spec.inputs, spec.outputs, false)]);
}
