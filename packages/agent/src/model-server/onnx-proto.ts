/**
 * Encodes ONNX `ModelProto` messages from a hand-written subset of upstream onnx.proto, so
 * the agent's tests and examples ship real models without Python or a .proto download.
 * Only the messages a plain feed-forward graph needs are described; field numbers are the
 * upstream ones, which is all the wire format cares about.
 */
import { createRequire } from 'node:module';
import type { Type } from 'protobufjs';

/** ONNX `TensorProto.DataType` values for the element types this package writes. */
export const OnnxElemType = {
  FLOAT: 1,
  INT32: 6,
  INT64: 7,
  DOUBLE: 11,
} as const;

/** One of {@link OnnxElemType}'s values. */
export type OnnxElemType = (typeof OnnxElemType)[keyof typeof OnnxElemType];

/** A constant tensor stored in the graph (a weight or a bias), as little-endian raw bytes. */
export interface OnnxInitializer {
  name: string;
  dims: readonly number[];
  elemType: OnnxElemType;
  rawData: Uint8Array;
}

/** A graph input or output: a name, an element type and a shape whose strings are symbolic dims. */
export interface OnnxValueInfo {
  name: string;
  elemType: OnnxElemType;
  shape: readonly (number | string)[];
}

/** One operator application. Attributes are not in the subset: the ops used here need none. */
export interface OnnxNode {
  name: string;
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
}

/** A whole graph, in topological node order as ONNX requires. */
export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxInitializer[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

/**
 * IR version 8 with the default-domain opset 17: a pair onnxruntime 1.30 loads, and old
 * enough that every runtime a node might carry (ORT ≥ 1.11) loads it too.
 */
export const ONNX_IR_VERSION = 8;
/** The default-domain opset the written models import. */
export const ONNX_OPSET = 17;

// onnx.proto is proto2, so repeated scalars are unpacked there; protobuf parsers accept both
// encodings, but writing what upstream writes keeps byte-for-byte comparisons meaningful.
const unpacked = { packed: false };

const ONNX_SUBSET = {
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            producerName: { type: 'string', id: 2 },
            graph: { type: 'GraphProto', id: 7 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
          },
        },
        OperatorSetIdProto: {
          fields: { domain: { type: 'string', id: 1 }, version: { type: 'int64', id: 2 } },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1, options: unpacked },
            dataType: { type: 'int32', id: 2 },
            name: { type: 'string', id: 8 },
            rawData: { type: 'bytes', id: 9 },
          },
        },
        ValueInfoProto: {
          fields: { name: { type: 'string', id: 1 }, type: { type: 'TypeProto', id: 2 } },
        },
        TypeProto: {
          fields: { tensorType: { type: 'TensorTypeProto', id: 1 } },
        },
        // Upstream nests this as TypeProto.Tensor; nesting does not reach the wire.
        TensorTypeProto: {
          fields: { elemType: { type: 'int32', id: 1 }, shape: { type: 'TensorShapeProto', id: 2 } },
        },
        TensorShapeProto: {
          fields: { dim: { rule: 'repeated', type: 'Dimension', id: 1 } },
        },
        Dimension: {
          fields: { dimValue: { type: 'int64', id: 1 }, dimParam: { type: 'string', id: 2 } },
        },
      },
    },
  },
};

let modelProto: Type | undefined;

/** The ModelProto type, built on first use: an agent that writes no models never loads protobufjs. */
function ModelProtoType(): Type {
  if (modelProto === undefined) {
    const protobuf = createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');
    modelProto = protobuf.Root.fromJSON(ONNX_SUBSET).lookupType('onnx.ModelProto');
  }
  return modelProto;
}

function valueInfo(v: OnnxValueInfo): object {
  // A Dimension is a oneof upstream: exactly one of dim_value / dim_param is set.
  const dim = v.shape.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d }));
  return { name: v.name, type: { tensorType: { elemType: v.elemType, shape: { dim } } } };
}

/** Serialises a graph as an ONNX model file's bytes. */
export function encodeOnnxModel(graph: OnnxGraph, producerName = 'edgefleet'): Uint8Array {
  const ModelProto = ModelProtoType();
  const message = ModelProto.fromObject({
    irVersion: ONNX_IR_VERSION,
    producerName,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({ name: n.name, opType: n.opType, input: [...n.inputs], output: [...n.outputs] })),
      initializer: graph.initializers.map((t) => ({ name: t.name, dims: [...t.dims], dataType: t.elemType, rawData: t.rawData })),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  });
  return ModelProto.encode(message).finish();
}

/** Float32 values as ONNX `raw_data`, which is little-endian whatever the host's byte order. */
export function float32RawData(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => {
    view.setFloat32(i * 4, v, true);
  });
  return bytes;
}
