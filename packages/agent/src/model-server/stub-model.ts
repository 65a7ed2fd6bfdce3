/**
 * The "compiled model" format read by `examples/runtimes/oip-stub.mjs`, the stand-in for a
 * vendor accelerator runtime (HailoRT) in tests. Writing a {@link DenseModel}'s weights in it
 * lets a test run the same network as a primary (stub) and a fallback (ONNX) runtime and
 * expect the same numbers from both.
 */
import type { DenseModel } from './onnx-model.js';

/** The `format` tag the stub checks before it evaluates a file. */
export const STUB_MODEL_FORMAT = 'edgefleet-stub-v1';

/** One layer of a stub model: `w[i][j]` links input i to output j, as in y = x·w + b. */
export interface StubLayer {
  w: number[][];
  b: number[];
  relu: boolean;
}

/** A stub model file's JSON shape. */
export interface StubModel {
  format: typeof STUB_MODEL_FORMAT;
  layers: StubLayer[];
}

/** The model's layers in the stub format; float32 weights widen to doubles exactly, so nothing is lost. */
export function stubModel(model: Pick<DenseModel, 'weights'>): StubModel {
  const layers = model.weights.layers.map((l) => ({
    w: Array.from({ length: l.inputs }, (_, i) => Array.from(l.weights.subarray(i * l.outputs, (i + 1) * l.outputs))),
    b: Array.from(l.bias),
    relu: l.relu,
  }));
  return { format: STUB_MODEL_FORMAT, layers };
}

/**
 * The stub model file's text: one weight row per line, laid out as the repository's JSON
 * formatter (Biome) lays it out, so a written example passes the lint check unchanged.
 */
export function stubModelJson(model: Pick<DenseModel, 'weights'>): string {
  const row = (values: readonly number[]) => `[${values.join(', ')}]`;
  const layers = stubModel(model).layers.map((l) => {
    const w = l.w.map((r) => `        ${row(r)}`).join(',\n');
    return `    {\n      "w": [\n${w}\n      ],\n      "b": ${row(l.b)},\n      "relu": ${l.relu}\n    }`;
  });
  return `{\n  "format": "${STUB_MODEL_FORMAT}",\n  "layers": [\n${layers.join(',\n')}\n  ]\n}\n`;
}
