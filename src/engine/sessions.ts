/**
 * ONNX Runtime sessions, created once per graph key (spec, graph kind, variant) and reused for
 * every later run. Graphs have symbolic batch (`B`) and row (`N`) dimensions, so one session
 * serves every batch shape.
 */
import * as ort from 'onnxruntime-node';
import { getLogger } from '../log/logger.js';
import { EngineRuntimeError } from './errors.js';
import { allmapVersion } from './export.js';
import type { GraphProto } from './onnx/proto.js';
import { encodeModel } from './onnx/proto.js';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface SessionSettings {
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  readonly interOpThreads: number;
}

const log = getLogger('engine');

export class SessionCache {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  private activeProvider: ExecutionProvider;

  constructor(private readonly settings: SessionSettings) {
    this.activeProvider = settings.provider;
  }

  /** The provider sessions are created for; `cpu` after a CUDA fallback. */
  get provider(): ExecutionProvider {
    return this.activeProvider;
  }

  /** The session of `key`, building its graph with `build` the first time. */
  get(key: string, build: () => GraphProto): Promise<ort.InferenceSession> {
    let session = this.sessions.get(key);
    if (!session) {
      session = this.create(key, build);
      this.sessions.set(key, session);
      // A failed creation must not stay cached: the next call tries again.
      session.catch(() => this.sessions.delete(key));
    }
    return session;
  }

  async dispose(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const session of await Promise.allSettled(sessions)) {
      if (session.status === 'fulfilled') await session.value.release();
    }
  }

  private async create(key: string, build: () => GraphProto): Promise<ort.InferenceSession> {
    const model = encodeModel({ graph: build(), producerVersion: allmapVersion });
    if (this.activeProvider === 'cuda') {
      try {
        return await ort.InferenceSession.create(model, this.options('cuda'));
      } catch (error) {
        // One warning for the engine's lifetime: every later session goes straight to cpu.
        this.activeProvider = 'cpu';
        log.warn(
          { err: error, backends: ort.listSupportedBackends() },
          'CUDA execution provider unavailable; running every graph on cpu',
        );
      }
    }

    try {
      return await ort.InferenceSession.create(model, this.options('cpu'));
    } catch (error) {
      throw new EngineRuntimeError(`ONNX Runtime rejected the graph '${key}'`, { cause: error });
    }
  }

  private options(provider: ExecutionProvider): ort.InferenceSession.SessionOptions {
    return {
      executionProviders: [provider],
      intraOpNumThreads: this.settings.intraOpThreads,
      interOpNumThreads: this.settings.interOpThreads,
      executionMode: this.settings.interOpThreads > 1 ? 'parallel' : 'sequential',
      graphOptimizationLevel: 'all',
    };
  }
}
