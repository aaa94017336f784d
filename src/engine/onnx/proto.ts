/**
 * The ONNX protobuf messages allmap writes, through the `onnx-proto` package (protobufjs code
 * generated from the official onnx.proto). Only this module touches the generated classes.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;
export type GraphProto = onnxProto.onnx.IGraphProto;
export type NodeProto = onnxProto.onnx.INodeProto;
export type TensorProto = onnxProto.onnx.ITensorProto;
export type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
export type AttributeProto = onnxProto.onnx.IAttributeProto;
export type ModelProto = onnxProto.onnx.IModelProto;
/** A graph as decoded from bytes: every field present, oneofs named (`dim.value`). */
export type DecodedGraph = onnxProto.onnx.GraphProto;

/**
 * Opset 18 is the first where every reduction (ReduceSum, ReduceMax, ...) takes its axes as an
 * input, which keeps the graph code uniform. IR version 8 is the one opset 18 shipped with.
 */
export const OPSET_VERSION = 18;
export const IR_VERSION = 8;

/** The element types the engine's graphs use. */
export type ElementType = 'float' | 'int64' | 'bool';

const DataType = onnx.TensorProto.DataType;

export const elementTypeCode: Readonly<Record<ElementType, number>> = {
  float: DataType.FLOAT,
  int64: DataType.INT64,
  bool: DataType.BOOL,
};

/** A dimension: a fixed size, or a symbolic name shared by every tensor of the same size. */
export type Dim = number | string;

export function valueInfo(name: string, type: ElementType, dims: readonly Dim[]): ValueInfoProto {
  const dim = dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name, type: { tensorType: { elemType: elementTypeCode[type], shape: { dim } } } };
}

/**
 * A tensor with its values in `rawData`. ONNX stores raw data little-endian, the byte order of
 * every platform onnxruntime-node ships for, so the typed array's bytes are copied as they are.
 */
export function tensor(
  name: string,
  values: Float32Array | BigInt64Array | Uint8Array,
  dims: readonly number[],
  type: ElementType,
): TensorProto {
  const rawData = new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  return { name, dims: [...dims], dataType: elementTypeCode[type], rawData };
}

export interface ModelOptions {
  readonly graph: GraphProto;
  readonly producerVersion: string;
  readonly metadata?: Readonly<Record<string, string>>;
  readonly docString?: string;
}

/** A serialised ModelProto with the engine's opset. */
export function encodeModel(options: ModelOptions): Uint8Array {
  const model: ModelProto = {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET_VERSION }],
    producerName: 'allmap',
    producerVersion: options.producerVersion,
    graph: options.graph,
    docString: options.docString ?? null,
    metadataProps: Object.entries(options.metadata ?? {}).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** The ModelProto inside serialised bytes (for validation and tests). */
export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}
