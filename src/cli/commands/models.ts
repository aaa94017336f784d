import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type AvroCodec, defaultCodec } from '../../codec/codec.js';
import type { AdaptedModelRecord } from '../../codec/records.js';
import { topicNames } from '../../config/topics.js';
import { TransportError } from '../../transport/errors.js';
import { readLatestByKey, readToEnd } from '../../transport/read-to-end.js';
import type { ConsumedRecord, Transport } from '../../transport/transport.js';
import { connectBroker } from '../broker.js';
import { resolveContext } from '../context.js';
import { NoModelError, UsageError } from '../errors.js';
import { describeAdaptation, formatBytes, viewRecord } from '../format.js';
import { numberAtLeast } from '../options.js';

/**
 * `allmap models get <task-id> -o model.onnx` and `allmap models list`: read the compacted
 * models topic to its current end and show or save the latest model of each task. Nothing
 * is committed: the read uses a consumer group of its own.
 */
export function register(program: Command): void {
  const models = program.command('models').description('read adapted models from the models topic');

  models
    .command('get')
    .description('write the latest adapted model of a task as an ONNX file')
    .argument('<task-id>', 'the task, as its episodes were keyed')
    .requiredOption('-o, --output <file>', 'where to write the ONNX model; - for stdout')
    .option(
      '--timeout <seconds>',
      'give up reading the topic after this long',
      numberAtLeast(1),
      30,
    )
    .action((taskId: string, flags: GetFlags, command: Command) =>
      getModel(taskId, flags, command),
    );

  models
    .command('list')
    .description('one line per task: its latest model, metrics and size')
    .option('--json', 'one JSON object per line; ONNX bytes as size and sha256')
    .option(
      '--timeout <seconds>',
      'give up reading the topic after this long',
      numberAtLeast(1),
      30,
    )
    .action((flags: ListFlags, command: Command) => listModels(flags, command));
}

interface GetFlags {
  output: string;
  timeout: number;
}

interface ListFlags {
  json?: boolean;
  timeout: number;
}

async function getModel(taskId: string, flags: GetFlags, command: Command): Promise<void> {
  const { config, log } = resolveContext(command);
  const topic = topicNames(config).models;
  const transport = await connectBroker(config, 'models get', log);

  let latest: ConsumedRecord | undefined;
  try {
    latest = await readLatestOf(transport, topic, taskId, flags.timeout * 1000);
  } finally {
    await transport.close();
  }

  const model = usableModel(taskId, topic, latest, defaultCodec());
  await writeModel(model, flags.output);
}

/** The last record of `taskId`: all records of a key share one partition, in order. */
async function readLatestOf(
  transport: Transport,
  topic: string,
  taskId: string,
  timeoutMs: number,
): Promise<ConsumedRecord | undefined> {
  let latest: ConsumedRecord | undefined;
  const onRecord = (record: ConsumedRecord) => {
    if (record.key === taskId) latest = record;
  };
  try {
    await readToEnd(transport, topic, onRecord, { timeoutMs });
  } catch (error) {
    if (!isMissingTopic(error)) throw error;
    throw new NoModelError(taskId, topic, 'the topic does not exist: no learner has published yet');
  }
  return latest;
}

async function writeModel(model: AdaptedModelRecord, output: string): Promise<void> {
  if (output === '-') process.stdout.write(model.onnx);
  else
    await writeFile(output, model.onnx).catch((cause: NodeJS.ErrnoException) => {
      throw new UsageError(`cannot write the model to ${output}: ${cause.code ?? cause.message}`, {
        cause,
      });
    });

  // With the model on standard output, the note goes to standard error.
  const note = output === '-' ? process.stderr : process.stdout;
  const where = output === '-' ? 'standard output' : output;
  note.write(
    `wrote the model of task ${model.taskId} (${model.family}, meta v${model.metaVersion}; ` +
      `${describeAdaptation(model.metrics)}) to ${where}, ${formatBytes(model.onnx.length)}\n`,
  );
}

/** The latest record's model, or a `NoModelError` saying why there is none to write. */
function usableModel(
  taskId: string,
  topic: string,
  latest: ConsumedRecord | undefined,
  codec: AvroCodec,
): AdaptedModelRecord {
  const refuse = (detail: string) => new NoModelError(taskId, topic, detail);
  if (latest === undefined) {
    throw refuse('no record has this key; `allmap models list` shows the tasks that have one');
  }
  if (latest.value === null)
    throw refuse('its latest record is a tombstone (the model was deleted)');

  const { partition, offset } = latest;
  const model = codec.decode('AdaptedModel', latest.value, latest.headers, {
    topic,
    partition,
    offset,
  });
  if (model.metrics.status === 'failed' || model.onnx.length === 0) {
    const reason = model.metrics.failure ?? 'no reason given';
    throw refuse(`its latest adaptation (meta v${model.metaVersion}) failed: ${reason}`);
  }
  return model;
}

async function listModels(flags: ListFlags, command: Command): Promise<void> {
  const { config, log: root } = resolveContext(command);
  const log = root.child({ component: 'cli.models' });
  const topic = topicNames(config).models;
  const transport = await connectBroker(config, 'models list', log);

  let latest = new Map<string, ConsumedRecord>();
  try {
    latest = await readLatestByKey(transport, topic, { timeoutMs: flags.timeout * 1000 });
  } catch (error) {
    if (!isMissingTopic(error)) throw error;
    log.warn({ topic }, `topic ${topic} does not exist: no learner has published yet`);
  } finally {
    await transport.close();
  }

  const codec = defaultCodec();
  const taskIds = [...latest.keys()].sort();
  for (const taskId of taskIds) {
    const view = viewRecord('models', latest.get(taskId)!, codec);
    process.stdout.write(`${flags.json ? JSON.stringify(view.json) : view.line}\n`);
  }
  log.info({ topic, tasks: taskIds.length }, `${taskIds.length} tasks have a model`);
}

/** A missing models topic means that no learner has published a model yet. */
function isMissingTopic(error: unknown): boolean {
  return error instanceof TransportError && error.code === 'UNKNOWN_TOPIC_OR_PARTITION';
}
