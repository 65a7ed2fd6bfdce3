import { describe, expect, it } from 'vitest';
import { decodeInferenceRequest, type ModelSignature } from '../../src/model-server/inference-request.js';
import { OipError } from '../../src/model-server/oip-error.js';

const mlp: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 3] }],
};

const twoInOut: ModelSignature = {
  inputs: [
    { name: 'a', datatype: 'INT64', shape: [2] },
    { name: 'b', datatype: 'INT32', shape: [-1] },
  ],
  outputs: [
    { name: 'x', datatype: 'FP64', shape: [2] },
    { name: 'y', datatype: 'FP64', shape: [2] },
  ],
};

const input = (over: Record<string, unknown> = {}) => ({ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4], ...over });

function refusal(body: unknown, spec: ModelSignature = mlp): OipError {
  try {
    decodeInferenceRequest(body, spec);
  } catch (err) {
    if (err instanceof OipError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('decodeInferenceRequest', () => {
  it('accepts flat data and returns every output when none is asked for', () => {
    expect(decodeInferenceRequest({ inputs: [input()] }, mlp)).toEqual({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], data: [1, 2, 3, 4] }],
      outputs: ['output'],
    });
  });

  it('flattens nested data in row-major order and keeps the id', () => {
    const req = decodeInferenceRequest(
      {
        id: 'r-1',
        inputs: [
          input({
            shape: [2, 4],
            data: [
              [1, 2, 3, 4],
              [5, 6, 7, 8],
            ],
          }),
        ],
      },
      mlp,
    );
    expect(req.id).toBe('r-1');
    expect(req.inputs[0]?.data).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('returns the requested outputs in the requested order', () => {
    const body = {
      inputs: [
        { name: 'b', shape: [3], datatype: 'INT32', data: [1, 2, 3] },
        { name: 'a', shape: [2], datatype: 'INT64', data: [-5, 2 ** 40] },
      ],
      outputs: [{ name: 'y' }, { name: 'x' }],
    };
    const req = decodeInferenceRequest(body, twoInOut);
    expect(req.outputs).toEqual(['y', 'x']);
    expect(req.inputs.map((i) => i.name)).toEqual(['b', 'a']);
  });

  it.each([
    ['a body that is not an object', [1, 2], /must be a JSON object/],
    ['no inputs', {}, /"inputs" must be a non-empty array/],
    ['empty inputs', { inputs: [] }, /"inputs" must be a non-empty array/],
    ['an id that is not a string', { id: 7, inputs: [input()] }, /"id" must be a string/],
    ['an input without a name', { inputs: [{ shape: [1, 4] }] }, /inputs\[0\] must be an object with a string "name"/],
    ['an unknown input name', { inputs: [input({ name: 'image' })] }, /input 'image' is not an input of this model; it takes: input/],
    ['the wrong datatype', { inputs: [input({ datatype: 'FP64' })] }, /datatype "FP64" does not match the model's FP32/],
    ['no datatype', { inputs: [input({ datatype: undefined })] }, /datatype undefined does not match/],
    ['the wrong rank', { inputs: [input({ shape: [4] })] }, /shape \[4\] does not fit the model's \[-1, 4\]/],
    ['the wrong fixed dimension', { inputs: [input({ shape: [1, 5], data: [1, 2, 3, 4, 5] })] }, /shape \[1, 5\] does not fit/],
    ['a negative dimension', { inputs: [input({ shape: [-1, 4] })] }, /"shape" must be an array of non-negative integers/],
    ['a fractional dimension', { inputs: [input({ shape: [1.5, 4] })] }, /non-negative integers/],
    ['too little data', { inputs: [input({ data: [1, 2, 3] })] }, /shape \[1, 4\] holds 4 elements but "data" has 3/],
    ['too much data', { inputs: [input({ shape: [2, 4] })] }, /holds 8 elements but "data" has 4/],
    ['data that is not an array', { inputs: [input({ data: '1,2,3,4' })] }, /"data" must be an array/],
    ['a string element', { inputs: [input({ data: [1, 2, '3', 4] })] }, /element 2 \("3"\) is not a number/],
    ['a null element', { inputs: [input({ data: [1, 2, null, 4] })] }, /element 2 \(null\) is not a number/],
    [
      'nested data that does not match the shape',
      {
        inputs: [
          input({
            shape: [2, 4],
            data: [
              [1, 2],
              [3, 4],
              [5, 6],
              [7, 8],
            ],
          }),
        ],
      },
      /nested "data" must be an array of 2/,
    ],
    ['the same input twice', { inputs: [input(), input()] }, /input 'input' is given twice/],
    ['binary tensor data', { inputs: [input({ parameters: { binary_data_size: 16 } })] }, /binary tensor data extension is not supported/],
    ['an unknown output', { inputs: [input()], outputs: [{ name: 'logits' }] }, /output 'logits' is not an output of this model; it gives: output/],
    ['outputs that are not an array', { inputs: [input()], outputs: { name: 'output' } }, /"outputs" must be an array/],
    ['an output twice', { inputs: [input()], outputs: [{ name: 'output' }, { name: 'output' }] }, /names an output twice/],
  ])('refuses %s with 400', (_what, body, message) => {
    const err = refusal(body);
    expect(err.status).toBe(400);
    expect(err.message).toMatch(message);
  });

  it.each([
    ['a missing input', { inputs: [{ name: 'a', shape: [2], datatype: 'INT64', data: [1, 2] }] }, /missing input\(s\): b/],
    ['a fractional INT64', { inputs: [{ name: 'a', shape: [2], datatype: 'INT64', data: [1, 2.5] }] }, /element 1 \(2.5\) is not an integer/],
    ['an INT64 beyond 2^53', { inputs: [{ name: 'a', shape: [2], datatype: 'INT64', data: [1, 2 ** 60] }] }, /is not an integer in/],
    ['an INT32 out of range', { inputs: [{ name: 'b', shape: [1], datatype: 'INT32', data: [2 ** 31] }] }, /is not an integer in \[-2147483648, 2147483647\]/],
  ])('refuses %s for integer inputs', (_what, body, message) => {
    expect(refusal(body, twoInOut).message).toMatch(message);
  });

  it('refuses a datatype the model has but the server cannot carry', () => {
    const spec: ModelSignature = { inputs: [{ name: 't', datatype: 'BYTES', shape: [1] }], outputs: [] };
    expect(refusal({ inputs: [{ name: 't', shape: [1], datatype: 'BYTES', data: ['x'] }] }, spec).message).toMatch(/BYTES is not supported by this server/);
  });
});
