/**
 * The meta-update worker: a `worker_threads` thread with its own engine, so that minutes
 * of meta-training never block the event loop that adapts and publishes episodes.
 *
 * Messages are handled one at a time, in arrival order: a bank sync sent before an update
 * request is always seen by that update, and one arriving during an update waits for it
 * (what keeps an update's numbers a function of its seed and the bank it was sent).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { UpdateCore, type UpdateCoreOptions } from './update-core.js';
import type { WorkerInbound, WorkerOutbound } from './worker-protocol.js';

const port = parentPort!;
const core = new UpdateCore(workerData as UpdateCoreOptions);
let queue: Promise<void> = Promise.resolve();

port.on('message', (message: WorkerInbound) => {
  queue = queue.then(() => handle(message));
});

async function handle(message: WorkerInbound): Promise<void> {
  switch (message.kind) {
    case 'sync':
      core.sync(message.stored, message.dropped);
      return;
    case 'run':
      await run(message.id, message.request);
      return;
    case 'close':
      await core.dispose();
      post({ kind: 'closed' });
      port.close();
      return;
  }
}

async function run(id: number, request: Parameters<UpdateCore['run']>[0]): Promise<void> {
  try {
    const result = await core.run(request);
    // The candidate's buffers move to the main thread instead of being copied.
    const buffers = result.candidate.map((tensor) => tensor.values.buffer as ArrayBuffer);
    port.postMessage({ kind: 'result', id, result } satisfies WorkerOutbound, buffers);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    post({ kind: 'failure', id, message: failure.message, stack: failure.stack ?? '' });
  }
}

function post(message: WorkerOutbound): void {
  port.postMessage(message);
}
