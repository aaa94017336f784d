/**
 * The mapping engine: MLP mappings as ONNX graphs that predict, adapt a batch of tasks by
 * gradient descent in one run, compute gradients, evaluate, and export standalone models.
 * It knows nothing of Kafka or the stream. See docs/engine.md.
 */
export {
  type AdaptLayout,
  type EngineOptions,
  type ExecutionProvider,
  MappingEngine,
} from './engine.js';
export { EngineInputError, EngineRuntimeError } from './errors.js';
export { allmapVersion, exportMapping, exportMetadataKeys } from './export.js';
export {
  flatten,
  initialiseTheta,
  type ParameterLayout,
  type ParameterTensor,
  parameterCount,
  parameterLayout,
  unflatten,
} from './layout.js';
export {
  type Activation,
  fashionSpec,
  isClassifier,
  type Loss,
  layerWidths,
  type MappingSpec,
  sinusoidSpec,
  specKey,
} from './spec.js';
export type {
  AdaptRequest,
  AdaptResult,
  AdaptStatus,
  EvaluateResult,
  ExportInfo,
  GradientRequest,
  GradientResult,
  LabelledSet,
  LearningRate,
  Optimizer,
  RowSet,
} from './types.js';
