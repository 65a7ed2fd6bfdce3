/**
 * Open Inference Protocol tensor datatypes and their onnxruntime counterparts, without
 * loading onnxruntime. The server describes every ORT type in metadata but accepts and
 * returns data only for the types in {@link SERVABLE_DATATYPES}, whose JSON numbers convert
 * without surprises.
 */
/** The datatypes this server turns between JSON and ORT tensors. */
export type ServableDatatype = 'FP32' | 'FP64' | 'INT32' | 'INT64';

/** How one servable datatype maps to ORT and which JSON numbers it accepts. */
interface DatatypeCodec {
  ort: 'float32' | 'float64' | 'int32' | 'int64';
  /** Why a JSON value is not an element of this type, or undefined when it is. */
  reject(v: number): string | undefined;
}

const notFinite = (v: number) => (Number.isFinite(v) ? undefined : 'is not a finite number');
const notInteger = (min: number, max: number) => (v: number) =>
  Number.isInteger(v) && v >= min && v <= max ? undefined : `is not an integer in [${min}, ${max}]`;

/** Per datatype: the ORT element type and the check each JSON element must pass. */
export const SERVABLE_DATATYPES: Readonly<Record<ServableDatatype, DatatypeCodec>> = {
  FP32: { ort: 'float32', reject: notFinite },
  FP64: { ort: 'float64', reject: notFinite },
  INT32: { ort: 'int32', reject: notInteger(-(2 ** 31), 2 ** 31 - 1) },
  // JSON numbers are doubles: INT64 elements beyond ±2^53 would silently lose digits, so refuse them.
  INT64: { ort: 'int64', reject: notInteger(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) },
};

/** Whether a datatype string names one of {@link SERVABLE_DATATYPES}. */
export function isServableDatatype(d: string): d is ServableDatatype {
  return Object.hasOwn(SERVABLE_DATATYPES, d);
}

const ORT_TO_OIP: Readonly<Record<string, string>> = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
};

/** The protocol's name for an ORT element type (e.g. float32 → FP32), for model metadata. */
export function oipDatatypeOf(ortType: string): string {
  return ORT_TO_OIP[ortType] ?? ortType.toUpperCase();
}
