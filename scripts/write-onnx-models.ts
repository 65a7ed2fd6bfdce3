/**
 * Writes the example models the model server is demonstrated and tested with, into
 * `examples/models/` (or the folder given as the first argument):
 *
 *   mlp-4-8-3.onnx       a 4→8→3 MLP (MatMul+Add+Relu+MatMul+Add), weights from seed 42
 *   mlp-4-8-3.stub.json  the same weights as an `examples/runtimes/oip-stub.mjs` model
 *   README.md            what they are, and the expected output for the input [1, 2, 3, 4]
 *
 *   node --import tsx scripts/write-onnx-models.ts
 *
 * The files are deterministic; a test checks the committed ones still match what this writes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { EXAMPLE_INPUT, EXAMPLE_MLP_SPEC, exampleModelsReadme } from '../packages/agent/src/fixtures/models/example-models.js';
import { mlpModel } from '../packages/agent/src/fixtures/models/onnx-model.js';
import { stubModelJson } from '../packages/agent/src/fixtures/models/stub-model.js';

const outDir = path.resolve(process.argv[2] ?? 'examples/models');
await mkdir(outDir, { recursive: true });
const mlp = mlpModel(EXAMPLE_MLP_SPEC);
const expected = Array.from(mlp.forward(EXAMPLE_INPUT, 1));
const files: Record<string, string | Uint8Array> = {
  'mlp-4-8-3.onnx': mlp.bytes,
  'mlp-4-8-3.stub.json': stubModelJson(mlp),
  'README.md': exampleModelsReadme(expected),
};
for (const [name, content] of Object.entries(files)) {
  await writeFile(path.join(outDir, name), content);
  console.log(`wrote ${path.relative(process.cwd(), path.join(outDir, name))}`);
}
console.log(`expected output for input [${Array.from(EXAMPLE_INPUT).join(', ')}]: [${expected.join(', ')}]`);
