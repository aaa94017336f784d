/**
 * Standalone ONNX models of adapted mappings: what allmap publishes for each task. A model
 * holds its parameters as initializers and needs nothing of allmap to run:
 *
 * ```ts
 * const session = await InferenceSession.create(bytes);
 * const { y } = await session.run({ x: new Tensor('float32', inputs, [rows, inputDim]) });
 * ```
 */
import { readFileSync } from 'node:fs';
import { forwardRows, type LayerValues } from './graphs/mlp.js';
import { parameterLayout, unflatten } from './layout.js';
import { GraphBuilder } from './onnx/graph-builder.js';
import { encodeModel } from './onnx/proto.js';
import { isClassifier, type MappingSpec } from './spec.js';
import type { ExportInfo } from './types.js';

/** allmap's own version, recorded in every exported model. */
export const allmapVersion: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

/** Metadata property keys of an exported model. */
export const exportMetadataKeys = {
  family: 'allmap.family',
  metaVersion: 'allmap.meta_version',
  taskId: 'allmap.task_id',
  allmapVersion: 'allmap.version',
  architecture: 'allmap.architecture',
} as const;

/**
 * The mapping `theta` of `spec` as a serialised ONNX model. Input `x` `[N, inputDim]`; output
 * `y` `[N, outputDim]` for regression, or `logits` and `probabilities` (softmax over the last
 * axis) for a classifier. Metadata: family, meta version, task id, allmap version and the
 * architecture. The caller validates `theta` (the engine does).
 */
export function exportMapping(
  spec: MappingSpec,
  theta: Float32Array,
  info: ExportInfo,
): Uint8Array {
  const g = GraphBuilder.create('allmap_mapping');
  const x = g.input('x', 'float', ['N', spec.inputDim]);
  const outputs = forwardRows(g, spec, x, bakeParameters(g, spec, theta));

  if (isClassifier(spec)) {
    g.output(outputs, 'logits', 'float', ['N', spec.outputDim]);
    const probabilities = g.op('Softmax', [outputs], { axis: -1 });
    g.output(probabilities, 'probabilities', 'float', ['N', spec.outputDim]);
  } else {
    g.output(outputs, 'y', 'float', ['N', spec.outputDim]);
  }

  return encodeModel({
    graph: g.build(),
    producerVersion: allmapVersion,
    docString: `allmap mapping of family ${info.family} for task ${info.taskId}`,
    metadata: {
      [exportMetadataKeys.family]: info.family,
      [exportMetadataKeys.metaVersion]: String(info.metaVersion),
      [exportMetadataKeys.taskId]: info.taskId,
      [exportMetadataKeys.allmapVersion]: allmapVersion,
      [exportMetadataKeys.architecture]: JSON.stringify(spec),
    },
  });
}

/** Each named tensor of `theta` as an initializer of the same name. */
function bakeParameters(g: GraphBuilder, spec: MappingSpec, theta: Float32Array): LayerValues[] {
  const layout = parameterLayout(spec);
  const tensors = unflatten(layout, theta);
  const layers: LayerValues[] = [];

  for (const t of layout.tensors) {
    const name = g.initializer(t.name, tensors.get(t.name)!, t.shape, 'float');
    if (t.role === 'weight') layers.push({ weight: name, bias: '' });
    else layers[t.layer] = { weight: layers[t.layer]!.weight, bias: name };
  }
  return layers;
}
