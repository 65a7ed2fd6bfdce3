/**
 * An ONNX model loaded in onnxruntime-node, seen through the protocol: its signature in OIP
 * terms, and a run that takes a validated request and returns JSON-ready output tensors.
 */
import { access } from 'node:fs/promises';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { DecodedInput, DecodedRequest, ModelSignature, TensorSignature } from './inference-request.js';
import { isServableDatatype, oipDatatypeOf, SERVABLE_DATATYPES } from './oip-datatypes.js';

/** One output tensor of a run, as the protocol's response carries it: flat row-major data. */
interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: number[];
}

/** A model ready to serve. */
export interface LoadedModel {
  signature: ModelSignature;
  run(request: DecodedRequest): Promise<OutputTensor[]>;
  release(): Promise<void>;
}

function signatureOf(meta: readonly InferenceSession.ValueMetadata[]): TensorSignature[] {
  return meta.map((m) =>
    m.isTensor
      ? // Symbolic dims ("N") and unknown ones are both "any size", which the protocol writes as -1.
        { name: m.name, datatype: oipDatatypeOf(m.type), shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) }
      : { name: m.name, datatype: 'NON_TENSOR', shape: [] },
  );
}

function toOrtTensor(input: DecodedInput): Tensor {
  switch (SERVABLE_DATATYPES[input.datatype].ort) {
    case 'float32':
      return new Tensor('float32', Float32Array.from(input.data), input.shape);
    case 'float64':
      return new Tensor('float64', Float64Array.from(input.data), input.shape);
    case 'int32':
      return new Tensor('int32', Int32Array.from(input.data), input.shape);
    case 'int64':
      return new Tensor(
        'int64',
        BigInt64Array.from(input.data, (v) => BigInt(v)),
        input.shape,
      );
  }
}

function toOutputTensor(name: string, tensor: Tensor): OutputTensor {
  const datatype = oipDatatypeOf(tensor.type);
  const { data } = tensor;
  if (!isServableDatatype(datatype) || typeof data === 'string' || Array.isArray(data)) {
    throw new Error(`output '${name}' has type ${tensor.type}, which this server cannot return`);
  }
  // INT64 results beyond ±2^53 lose digits as JSON numbers; the protocol's JSON form has no better choice.
  const numbers = data instanceof BigInt64Array ? Array.from(data, Number) : Array.from(data as ArrayLike<number>);
  return { name, datatype, shape: [...tensor.dims], data: numbers };
}

/**
 * Loads a model file. One intra-op thread: a Pi's four cores are shared with the agent and
 * other workloads, and for small models a thread pool costs more than it gains.
 */
export async function loadOnnxModel(modelPath: string): Promise<LoadedModel> {
  // ORT's own message for a missing file is long and generic; say plainly what is wrong.
  await access(modelPath).catch(() => {
    throw new Error(`model file not found or not readable: ${modelPath}`);
  });
  const session = await InferenceSession.create(modelPath, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' }).catch(
    (err: unknown) => {
      throw new Error(`onnxruntime cannot load ${modelPath}: ${err instanceof Error ? err.message : String(err)}`);
    },
  );
  const signature = { inputs: signatureOf(session.inputMetadata), outputs: signatureOf(session.outputMetadata) };
  return {
    signature,
    async run(request) {
      const feeds: Record<string, Tensor> = {};
      for (const input of request.inputs) feeds[input.name] = toOrtTensor(input);
      const results = await session.run(feeds, request.outputs);
      return request.outputs.map((name) => {
        const value = results[name];
        if (value === undefined) throw new Error(`onnxruntime returned no tensor for output '${name}'`);
        return toOutputTensor(name, value);
      });
    },
    release: () => session.release(),
  };
}
