/**
 * A structural check of a model, following the rules of the ONNX checker that do not need
 * operator schemas: the opset is declared; every graph input, output and initializer is named
 * and typed; every value is defined once (SSA), node names are unique, and nodes are in
 * topological order (each input defined by a graph input, an initializer, an earlier node, or,
 * inside a subgraph, the enclosing graphs); a Loop's body matches the Loop's arity. ONNX Runtime
 * then checks operator schemas and types when it loads the model.
 */
import { type DecodedGraph, decodeModel, OPSET_VERSION } from './proto.js';

export class OnnxStructureError extends Error {}

/** Throws `OnnxStructureError` naming the first broken rule. */
export function checkModel(bytes: Uint8Array): void {
  const model = decodeModel(bytes);
  const opset = model.opsetImport.find((o) => !o.domain);
  if (!opset || Number(opset.version) < OPSET_VERSION) {
    fail(`model: default-domain opset ${opset?.version ?? 'missing'}, needs >= ${OPSET_VERSION}`);
  }
  if (!model.irVersion) fail('model: ir_version missing');
  if (!model.graph) fail('model: graph missing');
  checkGraph(model.graph as DecodedGraph, new Set(), new Set());
}

function checkGraph(graph: DecodedGraph, outerScope: ReadonlySet<string>, nodeNames: Set<string>) {
  const where = `graph '${graph.name ?? ''}'`;
  const defined = new Set<string>();
  const define = (name: string | null | undefined, what: string) => {
    if (!name) fail(`${where}: ${what} without a name`);
    if (defined.has(name)) fail(`${where}: '${name}' defined twice`);
    defined.add(name);
  };

  for (const input of graph.input ?? []) {
    define(input.name, 'input');
    checkTyped(where, input);
  }
  for (const init of graph.initializer ?? []) {
    define(init.name, 'initializer');
    if (!init.dataType) fail(`${where}: initializer '${init.name}' has no data type`);
  }

  const isVisible = (name: string) => defined.has(name) || outerScope.has(name);
  for (const node of graph.node ?? []) {
    const label = `${where}: node '${node.name ?? ''}' (${node.opType ?? '?'})`;
    if (!node.name || nodeNames.has(node.name)) fail(`${label}: missing or repeated node name`);
    nodeNames.add(node.name);
    if (!node.opType) fail(`${label}: no op type`);

    for (const input of node.input ?? []) {
      // An empty name is an omitted optional input.
      if (input && !isVisible(input)) fail(`${label}: input '${input}' used before definition`);
    }
    for (const attribute of node.attribute ?? []) {
      if (attribute.g) {
        checkGraph(attribute.g as DecodedGraph, new Set([...outerScope, ...defined]), nodeNames);
        if (node.opType === 'Loop')
          checkLoopArity(label, node.input ?? [], node.output ?? [], attribute.g as DecodedGraph);
      }
    }
    for (const output of node.output ?? []) define(output, `${label} output`);
  }

  for (const output of graph.output ?? []) {
    if (!output.name || !defined.has(output.name)) {
      fail(`${where}: output '${output.name}' is never produced`);
    }
    checkTyped(where, output);
  }
}

/** Loop: body inputs = 2 + carried; body outputs = 1 + carried + scan outputs. */
function checkLoopArity(label: string, inputs: string[], outputs: string[], body: DecodedGraph) {
  const carried = inputs.length - 2;
  const bodyInputs = body.input?.length ?? 0;
  const bodyOutputs = body.output?.length ?? 0;
  if (bodyInputs !== carried + 2) {
    fail(`${label}: body has ${bodyInputs} inputs, the Loop carries ${carried} (+2)`);
  }
  if (bodyOutputs - 1 !== outputs.length) {
    fail(`${label}: body has ${bodyOutputs} outputs, the Loop has ${outputs.length} (+1)`);
  }
}

function checkTyped(where: string, value: DecodedGraph['input'][number]) {
  const tensorType = value.type?.tensorType;
  if (!tensorType?.elemType) fail(`${where}: '${value.name}' has no element type`);
  for (const dim of tensorType.shape?.dim ?? []) {
    // `value` is the decoded oneof's name: 'dimValue', 'dimParam', or absent.
    const isSet = (dim as { value?: string }).value !== undefined;
    if (!isSet) fail(`${where}: '${value.name}' has a dimension with neither size nor name`);
  }
}

function fail(message: string): never {
  throw new OnnxStructureError(message);
}
