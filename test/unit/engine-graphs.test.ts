/**
 * Every graph the engine builds is structurally valid ONNX (checked in TypeScript, since the
 * Python checker is not at hand) and loads in ONNX Runtime, which then checks operator schemas
 * and types. The structural check itself is shown to catch broken graphs.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildAdaptGraph } from '../../src/engine/graphs/adapt.js';
import {
  buildEvaluateGraph,
  buildGradientGraph,
  buildPredictGraph,
} from '../../src/engine/graphs/tasks.js';
import {
  exportMapping,
  fashionSpec,
  initialiseTheta,
  type MappingSpec,
  sinusoidSpec,
} from '../../src/engine/index.js';
import { checkModel, OnnxStructureError } from '../../src/engine/onnx/check.js';
import { GraphBuilder } from '../../src/engine/onnx/graph-builder.js';
import { decodeModel, encodeModel, type GraphProto, onnx } from '../../src/engine/onnx/proto.js';
import { Random } from '../support/engine-tasks.js';

function everyGraph(spec: MappingSpec): [string, GraphProto][] {
  const graphs: [string, GraphProto][] = [
    ['predict', buildPredictGraph(spec)],
    ['evaluate', buildEvaluateGraph(spec)],
  ];
  for (const seed of ['loss', 'upstream'] as const) {
    for (const wantInputGradient of [false, true]) {
      graphs.push([
        `gradient ${seed} ${wantInputGradient}`,
        buildGradientGraph(spec, { seed, wantInputGradient }),
      ]);
    }
  }
  for (const layout of ['unrolled', 'loop'] as const) {
    for (const optimizer of ['sgd', 'adam'] as const) {
      for (const rate of ['perStep', 'perParameter'] as const) {
        const options = { layout, steps: 2, optimizer, rate };
        graphs.push([`adapt ${layout} ${optimizer} ${rate}`, buildAdaptGraph(spec, options)]);
      }
    }
  }
  return graphs;
}

const specs: [string, MappingSpec][] = [
  ['W1', sinusoidSpec],
  ['W2', fashionSpec(5)],
  [
    'a linear tanh classifier',
    { inputDim: 3, hidden: [], outputDim: 2, activation: 'tanh', loss: 'softmax-cross-entropy' },
  ],
];

describe.each(specs)('every graph of %s', (_, spec) => {
  it('passes the structural check and loads in ONNX Runtime', async () => {
    for (const [name, graph] of everyGraph(spec)) {
      const bytes = encodeModel({ graph, producerVersion: 'test' });
      expect(() => checkModel(bytes), name).not.toThrow();
      const session = await ort.InferenceSession.create(bytes);
      await session.release();
    }
    const exported = exportMapping(spec, initialiseTheta(spec, new Random(1)), {
      family: 'f',
      metaVersion: 1,
      taskId: 't',
    });
    expect(() => checkModel(exported)).not.toThrow();
  });
});

describe('the structural check', () => {
  function tinyGraph(): GraphProto {
    const g = GraphBuilder.create('tiny');
    const x = g.input('x', 'float', ['N', 2]);
    g.output(g.op('Relu', [x]), 'y', 'float', ['N', 2]);
    return g.build();
  }
  const check = (graph: GraphProto) => () =>
    checkModel(encodeModel({ graph, producerVersion: 't' }));

  it('accepts a well-formed graph', () => {
    expect(check(tinyGraph())).not.toThrow();
  });

  it('rejects a node reading a value defined later', () => {
    const graph = tinyGraph();
    graph.node = [...graph.node!].reverse();
    expect(check(graph)).toThrow(/input 'relu' used before definition/);
  });

  it('rejects a value defined twice', () => {
    const graph = tinyGraph();
    graph.node![1]!.output = ['relu'];
    expect(check(graph)).toThrow(/'relu' defined twice/);
  });

  it('rejects an untyped graph output', () => {
    const graph = tinyGraph();
    graph.output![0]!.type = null;
    expect(check(graph)).toThrow(/'y' has no element type/);
  });

  it('rejects an output no node produces', () => {
    const graph = tinyGraph();
    graph.output![0]!.name = 'z';
    expect(check(graph)).toThrow(/output 'z' is never produced/);
  });

  it('rejects a model below opset 18', () => {
    const model = decodeModel(encodeModel({ graph: tinyGraph(), producerVersion: 't' }));
    model.opsetImport = [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })];
    const bytes = onnx.ModelProto.encode(model).finish();
    expect(() => checkModel(bytes)).toThrow(OnnxStructureError);
  });
});
