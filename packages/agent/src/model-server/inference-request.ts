/**
 * Checks an Open Inference Protocol inference request against the model's signature, as a
 * pure function, so every refusal is a table case in tests and the HTTP layer only decodes
 * JSON and runs the model. Each refusal names the input and what was expected.
 */
import { isServableDatatype, SERVABLE_DATATYPES, type ServableDatatype } from './oip-datatypes.js';
import { OipError } from './oip-error.js';

/** A model input or output as the protocol describes it; -1 marks a dynamic dimension. */
export interface TensorSignature {
  name: string;
  datatype: string;
  shape: readonly number[];
}

/** What a model takes and gives. */
export interface ModelSignature {
  inputs: readonly TensorSignature[];
  outputs: readonly TensorSignature[];
}

/** One input, validated: flat row-major elements whose count matches the shape. */
export interface DecodedInput {
  name: string;
  datatype: ServableDatatype;
  shape: number[];
  data: number[];
}

/** A request ready to run: every model input once, and the outputs to return, in order. */
export interface DecodedRequest {
  id?: string;
  inputs: DecodedInput[];
  outputs: string[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(message: string): OipError {
  return new OipError(400, message);
}

/**
 * Flattens `data`, given flat or nested as the tensor's natural multi-dimensional form. A
 * nested form must match the shape level by level, so a transposed array is refused rather
 * than silently reinterpreted.
 */
function flattenData(where: string, data: unknown, shape: readonly number[]): unknown[] {
  if (!Array.isArray(data)) throw bad(`${where}: "data" must be an array`);
  if (!data.some(Array.isArray)) return data;
  const out: unknown[] = [];
  const walk = (v: unknown, depth: number, path: string): void => {
    if (depth === shape.length) {
      out.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth])
      throw bad(`${where}: nested "data"${path} must be an array of ${shape[depth]} to match shape [${shape.join(', ')}]`);
    v.forEach((item, i) => {
      walk(item, depth + 1, `${path}[${i}]`);
    });
  };
  walk(data, 0, '');
  return out;
}

function decodeShape(where: string, shape: unknown, expected: readonly number[]): number[] {
  if (!Array.isArray(shape) || !shape.every((d): d is number => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`${where}: "shape" must be an array of non-negative integers`);
  }
  const mismatch = shape.length !== expected.length || expected.some((e, i) => e !== -1 && e !== shape[i]);
  if (mismatch) throw bad(`${where}: shape [${shape.join(', ')}] does not fit the model's [${expected.join(', ')}] (-1 is any size)`);
  return shape;
}

function decodeInput(raw: unknown, index: number, spec: ModelSignature): DecodedInput {
  if (!isRecord(raw) || typeof raw.name !== 'string') throw bad(`inputs[${index}] must be an object with a string "name"`);
  const where = `input '${raw.name}'`;
  const expected = spec.inputs.find((i) => i.name === raw.name);
  if (expected === undefined) throw bad(`${where} is not an input of this model; it takes: ${spec.inputs.map((i) => i.name).join(', ')}`);
  if (raw.datatype !== expected.datatype) throw bad(`${where}: datatype ${JSON.stringify(raw.datatype)} does not match the model's ${expected.datatype}`);
  if (!isServableDatatype(expected.datatype)) throw bad(`${where}: datatype ${expected.datatype} is not supported by this server`);
  if (isRecord(raw.parameters) && raw.parameters.binary_data_size !== undefined) throw bad(`${where}: the binary tensor data extension is not supported`);
  const shape = decodeShape(where, raw.shape, expected.shape);
  const flat = flattenData(where, raw.data, shape);
  const count = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== count) throw bad(`${where}: shape [${shape.join(', ')}] holds ${count} elements but "data" has ${flat.length}`);
  const { reject } = SERVABLE_DATATYPES[expected.datatype];
  flat.forEach((v, i) => {
    const why = typeof v === 'number' ? reject(v) : 'is not a number';
    if (why !== undefined) throw bad(`${where}: element ${i} (${JSON.stringify(v)}) ${why}`);
  });
  return { name: raw.name, datatype: expected.datatype, shape, data: flat as number[] };
}

function decodeOutputs(raw: unknown, spec: ModelSignature): string[] {
  // Absent or empty: every output, in the model's order (as Triton does for an empty list).
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) return spec.outputs.map((o) => o.name);
  if (!Array.isArray(raw)) throw bad('"outputs" must be an array');
  const names = raw.map((o, i) => {
    if (!isRecord(o) || typeof o.name !== 'string') throw bad(`outputs[${i}] must be an object with a string "name"`);
    if (!spec.outputs.some((s) => s.name === o.name))
      throw bad(`output '${o.name}' is not an output of this model; it gives: ${spec.outputs.map((s) => s.name).join(', ')}`);
    return o.name;
  });
  if (new Set(names).size !== names.length) throw bad('"outputs" names an output twice');
  return names;
}

/** Validates a parsed JSON body against the model; throws an {@link OipError} (400) saying what is wrong. */
export function decodeInferenceRequest(body: unknown, spec: ModelSignature): DecodedRequest {
  if (!isRecord(body)) throw bad('the request body must be a JSON object');
  if (body.id !== undefined && typeof body.id !== 'string') throw bad('"id" must be a string');
  if (!Array.isArray(body.inputs) || body.inputs.length === 0) throw bad('"inputs" must be a non-empty array');
  const inputs = body.inputs.map((raw, i) => decodeInput(raw, i, spec));
  const seen = new Set<string>();
  for (const input of inputs) {
    if (seen.has(input.name)) throw bad(`input '${input.name}' is given twice`);
    seen.add(input.name);
  }
  const missing = spec.inputs.filter((i) => !seen.has(i.name)).map((i) => i.name);
  if (missing.length > 0) throw bad(`missing input(s): ${missing.join(', ')}`);
  const outputs = decodeOutputs(body.outputs, spec);
  return { ...(body.id === undefined ? {} : { id: body.id }), inputs, outputs };
}
