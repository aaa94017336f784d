/**
 * A small builder of ONNX graphs: it hands out unique value names, keeps nodes in the order
 * they were added (so a graph built front to back is topologically sorted), stores constants
 * once as initializers, and builds subgraphs (a Loop body) that share the outer name space.
 */
import {
  type AttributeProto,
  type Dim,
  type ElementType,
  type GraphProto,
  type NodeProto,
  onnx,
  type TensorProto,
  tensor,
  type ValueInfoProto,
  valueInfo,
} from './proto.js';

/**
 * An attribute: an integer, a list of integers, a string, a float (`{ float }`, since a
 * JavaScript number alone cannot say whether `1` is an INT or a FLOAT), or a subgraph.
 */
export type AttributeValue =
  | number
  | readonly number[]
  | string
  | { readonly float: number }
  | { readonly graph: GraphProto };

export type Attributes = Readonly<Record<string, AttributeValue>>;

/** Hands out names unique across a graph and all its subgraphs, as ONNX requires. */
class NameScope {
  private readonly taken = new Set<string>();

  claim(wanted: string): string {
    let name = wanted;
    for (let n = 1; this.taken.has(name); n++) name = `${wanted}_${n}`;
    this.taken.add(name);
    return name;
  }

  claimExact(name: string): string {
    if (this.taken.has(name)) throw new Error(`graph name '${name}' is already taken`);
    this.taken.add(name);
    return name;
  }
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly constants = new Map<string, string>();
  /** The node of this graph producing each value. */
  private readonly producers = new Map<string, NodeProto>();
  /** Values some node reads, in this graph or (for a main graph) in any of its subgraphs. */
  private readonly read = new Set<string>();
  /** Values `outputInPlace` renamed, old name to new, so readers of the old name still work. */
  private readonly renamed = new Map<string, string>();

  private constructor(
    private readonly graphName: string,
    private readonly names: NameScope,
    private readonly root?: GraphBuilder,
  ) {}

  /** A builder for a main graph. */
  static create(graphName: string): GraphBuilder {
    return new GraphBuilder(graphName, new NameScope());
  }

  /** A builder for a subgraph (a Loop body) that may read this graph's values by name. */
  subgraph(graphName: string): GraphBuilder {
    return new GraphBuilder(graphName, this.names, this.root ?? this);
  }

  /** Declares a graph input and returns its name (exactly `name`). */
  input(name: string, type: ElementType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(this.names.claimExact(name), type, dims));
    return name;
  }

  /** Declares `value` as the graph output `name`, through an Identity when the names differ. */
  output(value: string, name: string, type: ElementType, dims: readonly Dim[]): void {
    const current = this.resolve(value);
    const outputName = current === name ? name : this.identity(current, name);
    this.outputs.push(valueInfo(outputName, type, dims));
  }

  /**
   * Declares `value` as the graph output `name` by renaming it in place: the node producing it
   * writes `name` directly, and later readers of `value` read `name`. This matters for speed
   * when other nodes read the output: ONNX Runtime drops an Identity before a graph output only
   * when nothing else reads its input, and otherwise copies the whole tensor. A value no node
   * of this graph produces, or that some node already reads, goes through `output`.
   */
  outputInPlace(value: string, name: string, type: ElementType, dims: readonly Dim[]): void {
    const current = this.resolve(value);
    const producer = this.producers.get(current);
    if (current === name || !producer || this.read.has(current) || this.isOutput(current)) {
      this.output(current, name, type, dims);
      return;
    }
    this.names.claimExact(name);
    producer.output = producer.output!.map((o) => (o === current ? name : o));
    this.producers.delete(current);
    this.producers.set(name, producer);
    this.renamed.set(current, name);
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** A named initializer (a parameter baked into the model). */
  initializer(
    name: string,
    values: Float32Array | BigInt64Array,
    dims: readonly number[],
    type: ElementType,
  ): string {
    this.initializers.push(tensor(this.names.claimExact(name), values, dims, type));
    return name;
  }

  /**
   * A float constant: a scalar for a number, else a tensor of `dims` (default 1-D). Constants
   * live in the main graph, once per value, so a Loop body reads them without copies.
   */
  float(values: number | readonly number[], dims?: readonly number[]): string {
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    return this.constant('float', new Float32Array(list), shape);
  }

  /** An int64 constant (shapes, axes, indices); a scalar for a number, else 1-D. */
  int64(values: number | readonly number[]): string {
    const list = typeof values === 'number' ? [values] : values;
    const shape = typeof values === 'number' ? [] : [list.length];
    return this.constant('int64', BigInt64Array.from(list, BigInt), shape);
  }

  /** Adds one node and returns the name of its single output. */
  op(
    opType: string,
    inputs: readonly string[],
    attributes: Attributes = {},
    hint?: string,
  ): string {
    return this.opMulti(opType, inputs, [hint ?? opType.toLowerCase()], attributes)[0]!;
  }

  /** Adds one node with several outputs, named from `hints`, and returns their names. */
  opMulti(
    opType: string,
    inputs: readonly string[],
    hints: readonly string[],
    attributes: Attributes = {},
  ): string[] {
    const output = hints.map((hint) => this.names.claim(hint));
    this.push({
      name: this.names.claim(`${opType}_node`),
      opType,
      input: [...inputs],
      output,
      attribute: Object.entries(attributes).map(([name, value]) => attribute(name, value)),
    });
    return output;
  }

  // Shorthands for the operators whose second input is a constant.

  reshape(x: string, shape: readonly number[], hint?: string): string {
    return this.op('Reshape', [x, this.int64(shape)], {}, hint);
  }

  transpose(x: string, perm: readonly number[], hint?: string): string {
    return this.op('Transpose', [x], { perm }, hint);
  }

  reduceSum(x: string, axes: readonly number[], keepDims: boolean, hint?: string): string {
    return this.op('ReduceSum', [x, this.int64(axes)], { keepdims: keepDims ? 1 : 0 }, hint);
  }

  identity(x: string, name: string): string {
    this.push({
      name: this.names.claim('Identity_node'),
      opType: 'Identity',
      input: [x],
      output: [this.names.claimExact(name)],
    });
    return name;
  }

  build(): GraphProto {
    return {
      name: this.graphName,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: this.initializers,
    };
  }

  private push(node: NodeProto): void {
    node.input = (node.input ?? []).map((input) => this.resolve(input));
    for (const input of node.input) {
      this.read.add(input);
      this.root?.read.add(input);
    }
    this.nodes.push(node);
    for (const output of node.output ?? []) this.producers.set(output, node);
  }

  private isOutput(value: string): boolean {
    return this.outputs.some((output) => output.name === value);
  }

  /** The current name of a value (see `outputInPlace`); subgraphs follow their main graph's. */
  private resolve(value: string): string {
    const local = this.renamed.get(value) ?? value;
    return this.root?.renamed.get(local) ?? local;
  }

  private constant(
    type: ElementType,
    values: Float32Array | BigInt64Array,
    dims: readonly number[],
  ): string {
    if (this.root) return this.root.constant(type, values, dims);

    const key = `${type}[${dims.join(',')}]${values.join(',')}`;
    const known = this.constants.get(key);
    if (known) return known;

    const name = this.names.claim(`const_${type}`);
    this.initializers.push(tensor(name, values, dims, type));
    this.constants.set(key, name);
    return name;
  }
}

function attribute(name: string, value: AttributeValue): AttributeProto {
  const Type = onnx.AttributeProto.AttributeType;
  if (typeof value === 'number') {
    if (!Number.isInteger(value))
      throw new Error(`attribute '${name}': use { float } for ${value}`);
    return { name, type: Type.INT, i: value };
  }
  if (typeof value === 'string') {
    return { name, type: Type.STRING, s: new TextEncoder().encode(value) };
  }
  if (isNumberList(value)) return { name, type: Type.INTS, ints: [...value] };
  if ('float' in value) return { name, type: Type.FLOAT, f: value.float };
  return { name, type: Type.GRAPH, g: value.graph };
}

function isNumberList(value: AttributeValue): value is readonly number[] {
  return Array.isArray(value);
}
