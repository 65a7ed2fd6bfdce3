/**
 * The example models under `examples/models/`: their spec, the input the docs use, and the
 * README text. Shared by `scripts/write-onnx-models.ts` and the test that checks the
 * committed files still match, so the two cannot drift apart.
 */
import type { MlpSpec } from './onnx-model.js';

/** The example MLP: 4 inputs, 8 hidden units, 3 outputs, weights from seed 42. */
export const EXAMPLE_MLP_SPEC: MlpSpec = { inputs: 4, hidden: 8, outputs: 3, seed: 42 };

/** The input the README's example request sends. */
export const EXAMPLE_INPUT = Float32Array.of(1, 2, 3, 4);

/** `examples/models/README.md`, given the model's output for {@link EXAMPLE_INPUT}. */
export function exampleModelsReadme(expected: readonly number[]): string {
  const input = Array.from(EXAMPLE_INPUT).join(', ');
  const output = expected.join(', ');
  // The curl lines show JSON as the server writes it: no spaces.
  const inputJson = Array.from(EXAMPLE_INPUT).join(',');
  const outputJson = expected.join(',');
  return `# Example models

Written by \`node --import tsx scripts/write-onnx-models.ts\` (deterministic; a test checks
these files still match what the script writes). Do not edit them by hand.

| file | what it is |
| --- | --- |
| \`mlp-4-8-3.onnx\` | A real ONNX model (IR 8, opset 17): a 4→8→3 perceptron, MatMul+Add+Relu+MatMul+Add, FP32. Input \`input\` [N, 4], output \`output\` [N, 3], N a symbolic batch dimension. Weights are drawn from seed 42 (mulberry32) as multiples of 1/64, so results for small integer inputs are exact in float32. |
| \`mlp-4-8-3.stub.json\` | The same weights as an \`edgefleet-stub-v1\` "compiled model" for \`examples/runtimes/oip-stub.mjs\`, the stand-in for an accelerator runtime (HailoRT) in tests. Both runtimes give the same numbers. |

## Expected output

For the input [${input}] (shape [1, 4]) both models give

    [${output}]

## Serving it

The agent's built-in model server speaks the Open Inference Protocol (KServe v2 REST):

    EDGEFLEET_MODEL_PATH=examples/models/mlp-4-8-3.onnx EDGEFLEET_MODEL_NAME=mlp EDGEFLEET_PORT=8500 \\
      node --import tsx packages/agent/src/model-server/main.ts

    curl -s localhost:8500/v2/models/mlp/infer -H 'content-type: application/json' \\
      -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[${inputJson}]}]}'

answers

    {"model_name":"mlp","model_version":"1","outputs":[{"name":"output","datatype":"FP32","shape":[1,3],"data":[${outputJson}]}]}

The stub runtime serves the JSON file the same way:
\`node examples/runtimes/oip-stub.mjs\` with \`EDGEFLEET_MODEL_PATH=examples/models/mlp-4-8-3.stub.json\`.
`;
}
