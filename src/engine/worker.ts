/**
 * Running the engine off the main thread. An ONNX Runtime `run` blocks the thread that calls
 * it, so long work (the learner's meta-updates) belongs in a `worker_threads` worker that
 * creates its own `MappingEngine`: sessions are per engine and never shared between threads.
 * The engine is stable there over thousands of runs (test/unit/engine-worker.test.ts).
 *
 * ```ts
 * // meta-update-worker.ts
 * const engine = MappingEngine.create({ intraOpThreads: 1 });
 * parentPort!.on('message', async (request) => {
 *   const results = await engine.adaptBatch(spec, request);
 *   parentPort!.postMessage(results, transferablesOf(results));
 * });
 * // main thread
 * const worker = startWorker(new URL('./meta-update-worker.js', import.meta.url));
 * ```
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker running the module at `entry`. Compiled JavaScript runs as it is. A TypeScript
 * entry (development and tests) is imported after registering tsx's loader inside the worker:
 * Node 20 does not apply `--import tsx` from a worker's `execArgv` to the worker's own entry.
 */
export function startWorker(entry: URL, options: WorkerOptions = {}): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, options);

  const bootstrap =
    "import('tsx/esm/api')" +
    `.then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true });
}

/**
 * The buffers of every typed array in engine results, to move them to another thread with
 * `postMessage(results, transferablesOf(results))` instead of copying. The sender's arrays
 * are detached afterwards.
 */
export function transferablesOf(results: readonly object[]): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const result of results) {
    for (const value of Object.values(result)) {
      if (ArrayBuffer.isView(value) && value.buffer instanceof ArrayBuffer)
        buffers.add(value.buffer);
    }
  }
  return [...buffers];
}
