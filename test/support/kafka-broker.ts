import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';

/**
 * A real Apache Kafka broker for the integration tests and `npm run kafka`, found or started
 * in this order:
 * 1. `KAFKA_BROKERS` names a running cluster: use it, start nothing.
 * 2. A Docker engine answers: start the official `apache/kafka` image with Testcontainers.
 * 3. Otherwise: run the broker from its Maven Central jars (fetched once with `mvn` into a
 *    cache outside the repository) on Java 17, as one KRaft node that is both broker and
 *    controller, on free loopback ports, with its data in a temporary folder.
 *
 * A broker started here never outlives the process that started it: the JVM runs under a
 * small shell watchdog that reads a pipe from this process and stops the JVM (SIGTERM, then
 * SIGKILL after a grace period) as soon as the pipe closes, which happens on a normal stop,
 * on a signal, and when this process dies in any way, even by SIGKILL.
 */

export type BrokerSource = 'KAFKA_BROKERS' | 'container' | 'jars';

export interface KafkaBroker {
  /** Bootstrap addresses, `host:port`. */
  brokers: string[];
  source: BrokerSource;
  /** The broker JVM's process id, for a broker run from the jars. */
  pid?: number;
  /** One line saying where the broker came from, its address and process. */
  description: string;
  /** Stops a broker this process started; a no-op for `KAFKA_BROKERS`. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** How long the broker may take to answer; default 120 s (a cold JVM on two busy cores). */
  readyTimeoutMs?: number;
  /** Progress lines (fetching jars, starting); default: none. */
  onProgress?: (line: string) => void;
}

const execFileAsync = promisify(execFile);
const POM = fileURLToPath(new URL('../../scripts/kafka/pom.xml', import.meta.url));
const STOP_GRACE_S = 10;

/** Finds or starts a broker, in the order described at the top of this file. */
export async function startKafkaBroker(options: StartOptions = {}): Promise<KafkaBroker> {
  const listed = process.env.KAFKA_BROKERS?.split(',').map((broker) => broker.trim());
  const brokers = listed?.filter((broker) => broker.length > 0) ?? [];
  if (brokers.length > 0) {
    return {
      brokers,
      source: 'KAFKA_BROKERS',
      description: `Kafka from KAFKA_BROKERS at ${brokers.join(',')} (not started by this run)`,
      stop: async () => {},
    };
  }

  if (await isDockerAvailable()) return startContainerBroker(options);
  return startJarBroker(options);
}

/** The Kafka version the jars and the image are taken at: `<kafka.version>` of the pom. */
export async function kafkaVersion(): Promise<string> {
  if (process.env.ALLMAP_KAFKA_VERSION) return process.env.ALLMAP_KAFKA_VERSION;
  const pom = await readFile(POM, 'utf8');
  const version = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (version === undefined) throw new Error(`no <kafka.version> property in ${POM}`);
  return version;
}

// ---------------------------------------------------------------------------------------------
// Docker, through Testcontainers

/** Whether a Docker engine answers, as Testcontainers finds it (DOCKER_HOST, sockets, ...). */
export async function isDockerAvailable(timeoutMs = 5_000): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await withTimeout(getContainerRuntimeClient(), timeoutMs, 'looking for a Docker engine');
    return true;
  } catch {
    return false;
  }
}

/** Listener ports inside the container: clients, the broker itself, the controller. */
const CONTAINER_PORTS = { client: 9092, broker: 9093, controller: 9094 };
const START_SCRIPT = '/tmp/allmap-kafka-start.sh';
const WAITING_LINE = 'allmap: waiting for the start script';

/**
 * The official `apache/kafka` image. The client listener must advertise the port Docker
 * mapped on the host, known only once the container runs, so the container first waits for
 * a start script that is copied in with that address (the way Testcontainers' Java
 * KafkaContainer does it for this image; the Node module drives only Confluent's image).
 */
export async function startContainerBroker(options: StartOptions = {}): Promise<KafkaBroker> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const image = process.env.ALLMAP_KAFKA_IMAGE ?? `apache/kafka:${await kafkaVersion()}`;
  options.onProgress?.(`starting ${image} with Testcontainers`);

  const { client, broker, controller } = CONTAINER_PORTS;
  const container = await new GenericContainer(image)
    .withExposedPorts(client)
    .withEnvironment({
      CLUSTER_ID: randomClusterId(),
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: [
        `PLAINTEXT://0.0.0.0:${client}`,
        `BROKER://0.0.0.0:${broker}`,
        `CONTROLLER://0.0.0.0:${controller}`,
      ].join(','),
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP:
        'PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: `1@localhost:${controller}`,
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    })
    .withCommand([
      'sh',
      '-c',
      `echo '${WAITING_LINE}'; while [ ! -f ${START_SCRIPT} ]; do sleep 0.1; done; ${START_SCRIPT}`,
    ])
    .withWaitStrategy(Wait.forLogMessage(WAITING_LINE))
    .start();

  const address = `${container.getHost()}:${container.getMappedPort(client)}`;
  const script = [
    '#!/bin/sh',
    `export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://${address},BROKER://localhost:${broker}`,
    'exec /etc/kafka/docker/run',
    '',
  ].join('\n');
  await container.copyContentToContainer([{ content: script, target: START_SCRIPT, mode: 0o755 }]);

  const stop = async () => {
    await container.stop();
  };
  try {
    await waitUntilReady([address], options.readyTimeoutMs ?? 120_000, () => undefined);
  } catch (error) {
    const logs = await readContainerLogs(container);
    await stop();
    throw new Error(`${(error as Error).message}\nlast lines of the container log:\n${logs}`);
  }
  return {
    brokers: [address],
    source: 'container',
    description:
      `Kafka ${image} started by this run with Testcontainers at ${address} ` +
      `(container ${container.getId().slice(0, 12)})`,
    stop,
  };
}

async function readContainerLogs(container: { logs(): Promise<NodeJS.ReadableStream> }) {
  const lines: string[] = [];
  const stream = await container.logs();
  await new Promise<void>((resolve) => {
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n')));
    setTimeout(resolve, 500);
  });
  return lines.slice(-40).join('\n');
}

// ---------------------------------------------------------------------------------------------
// The broker from Maven Central jars

/** `${ALLMAP_CACHE_DIR:-$HOME/.cache/allmap}/kafka-<version>/libs`, fetched if missing. */
export async function ensureKafkaJars(options: StartOptions = {}): Promise<string> {
  const version = await kafkaVersion();
  const home = join(process.env.ALLMAP_CACHE_DIR ?? join(homedir(), '.cache', 'allmap'));
  const libs = join(home, `kafka-${version}`, 'libs');
  // Written last, so a fetch that was interrupted is never taken for a complete one.
  if (existsSync(join(libs, '.complete'))) return libs;

  options.onProgress?.(`fetching the Kafka ${version} jars with mvn into ${libs}`);
  const partial = `${libs}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await runMaven(version, partial).catch(async (error: unknown) => {
    await rm(partial, { recursive: true, force: true });
    throw error;
  });

  const jars = (await readdir(partial)).filter((name) => name.endsWith('.jar'));
  await writeFile(join(partial, '.complete'), `${jars.sort().join('\n')}\n`);
  await rm(libs, { recursive: true, force: true });
  await rename(partial, libs).catch(async (error: unknown) => {
    // Another process fetched the same jars at the same time; its copy is as good.
    if (!existsSync(join(libs, '.complete'))) throw error;
    await rm(partial, { recursive: true, force: true });
  });
  return libs;
}

async function runMaven(version: string, outputDirectory: string): Promise<void> {
  const args = [
    '-q',
    '-B',
    '-f',
    POM,
    `-Dkafka.version=${version}`,
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${outputDirectory}`,
  ];
  try {
    await execFileAsync('mvn', args, { maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: string; stdout?: string; stderr?: string };
    if (code === 'ENOENT') {
      throw new Error(
        'mvn (Apache Maven) is needed to fetch the Kafka broker jars and was not found: ' +
          'install it (Debian: apt-get install maven) or set KAFKA_BROKERS to a running cluster',
      );
    }
    throw new Error(`mvn ${args.join(' ')} failed:\n${tail(`${stdout ?? ''}${stderr ?? ''}`)}`);
  }
}

/** Flags for a small machine: a small heap, a simple collector, a quick start. */
const JVM_FLAGS = [
  '-Xms128m',
  '-Xmx512m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-XX:+ExitOnOutOfMemoryError',
  '-Djava.awt.headless=true',
];

export async function startJarBroker(options: StartOptions = {}): Promise<KafkaBroker> {
  const started = Date.now();
  const libs = await ensureKafkaJars(options);
  const version = await kafkaVersion();
  await removeAbandonedDirs();
  const dir = await mkdtemp(join(tmpdir(), DIR_PREFIX));
  await writeFile(join(dir, 'owner.pid'), `${process.pid}\n`);
  const files = await writeBrokerFiles(dir, await freePort(), await freePort());
  const classpath = `${libs}/*`;
  const jvm = [...JVM_FLAGS, `-Dlog4j2.configurationFile=${files.log4j}`, '-cp', classpath];

  options.onProgress?.(`formatting the Kafka ${version} storage in ${dir}`);
  await formatStorage(jvm, files.properties, dir);

  const watchdog = startWatchdog(['java', ...jvm, 'kafka.Kafka', files.properties], files.stdout);
  const pid = await watchdog.pid;
  const broker = `127.0.0.1:${files.port}`;
  const stop = () => watchdog.stop().then(() => rm(dir, { recursive: true, force: true }));

  try {
    await waitUntilReady([broker], options.readyTimeoutMs ?? 120_000, watchdog.exitReason);
  } catch (error) {
    const logs = await brokerLogTail(files);
    await watchdog.stop();
    throw new Error(`${(error as Error).message}\nbroker log: ${files.log} (kept)\n${logs}`);
  }

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  return {
    brokers: [broker],
    source: 'jars',
    pid,
    description:
      `Kafka ${version} started by this run from Maven Central jars at ${broker} ` +
      `(pid ${pid}, ready in ${seconds} s, log ${files.log})`,
    stop,
  };
}

const DIR_PREFIX = 'allmap-kafka-';

/**
 * Removes the data folders of brokers whose starting process is gone: a process killed
 * hard cannot remove its own, though its watchdog still stops its JVM.
 */
async function removeAbandonedDirs(): Promise<void> {
  const names = (await readdir(tmpdir())).filter((name) => name.startsWith(DIR_PREFIX));
  for (const name of names) {
    const dir = join(tmpdir(), name);
    const owner = Number(await readFile(join(dir, 'owner.pid'), 'utf8').catch(() => 'NaN'));
    if (Number.isInteger(owner) && !isAlive(owner)) await rm(dir, { recursive: true, force: true });
  }
}

interface BrokerFiles {
  port: number;
  properties: string;
  log4j: string;
  log: string;
  stdout: string;
}

async function writeBrokerFiles(
  dir: string,
  port: number,
  controllerPort: number,
): Promise<BrokerFiles> {
  const files = {
    port,
    properties: join(dir, 'server.properties'),
    log4j: join(dir, 'log4j2.xml'),
    log: join(dir, 'broker.log'),
    stdout: join(dir, 'stdout.log'),
  };
  const properties = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    'controller.quorum.bootstrap.servers': `127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'num.partitions': '1',
    'auto.create.topics.enable': 'false',
    'offsets.topic.replication.factor': '1',
    // Fewer internal partitions than the default 50: a test broker starts and loads faster.
    'offsets.topic.num.partitions': '4',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '4',
    'group.initial.rebalance.delay.ms': '0',
  };
  const lines = Object.entries(properties).map(([key, value]) => `${key}=${value}`);
  await writeFile(files.properties, `${lines.join('\n')}\n`);
  await writeFile(files.log4j, log4jConfig(files.log));
  return files;
}

/** Warnings and errors only, to a file kept with the broker's data for diagnosis. */
function log4jConfig(file: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <File name="file" fileName="${file}">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
`;
}

async function formatStorage(jvm: string[], properties: string, dir: string): Promise<void> {
  const args = [
    ...jvm,
    'kafka.tools.StorageTool',
    'format',
    '--config',
    properties,
    '--cluster-id',
    randomClusterId(),
    '--standalone',
  ];
  try {
    await execFileAsync('java', args, { cwd: dir });
  } catch (error) {
    const { code, stdout, stderr } = error as { code?: string; stdout?: string; stderr?: string };
    if (code === 'ENOENT') {
      throw new Error(
        'java (17 or later) is needed to run the Kafka broker and was not found: install it ' +
          '(Debian: apt-get install openjdk-17-jre-headless) or set KAFKA_BROKERS',
      );
    }
    throw new Error(`formatting Kafka storage failed:\n${tail(`${stdout ?? ''}${stderr ?? ''}`)}`);
  }
}

/**
 * What `kafka-storage.sh random-uuid` prints, without starting a JVM for it: 16 random bytes
 * in URL-safe base64, never starting with '-' (Kafka avoids that for command lines).
 */
function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

/**
 * The watchdog: runs the command in the background, prints its pid, then waits for its own
 * standard input to close (or for a signal) and stops the command: SIGTERM, a grace period,
 * SIGKILL. `cat` reads a copy of stdin made first, because a background command in `sh`
 * gets /dev/null as its standard input.
 */
const WATCHDOG = `
out="$1"; shift
"$@" </dev/null >"$out" 2>&1 &
child=$!
echo "$child"
stop() {
  kill -TERM "$child" 2>/dev/null
  i=0
  while kill -0 "$child" 2>/dev/null && [ "$i" -lt ${STOP_GRACE_S * 5} ]; do
    sleep 0.2
    i=$((i + 1))
  done
  kill -KILL "$child" 2>/dev/null
  kill "$reader" 2>/dev/null
  exit 0
}
trap stop TERM INT HUP
exec 3<&0
cat <&3 >/dev/null &
reader=$!
wait "$reader"
stop
`;

interface Watchdog {
  pid: Promise<number>;
  /** Why the broker is gone, or undefined while it runs. */
  exitReason(): string | undefined;
  stop(): Promise<void>;
}

function startWatchdog(command: string[], stdoutFile: string): Watchdog {
  // Its own process group: a Ctrl-C at the terminal reaches this process, which then stops
  // the broker in order, instead of reaching the JVM directly.
  const child = spawn('sh', ['-c', WATCHDOG, 'allmap-kafka-watchdog', stdoutFile, ...command], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = `the broker watchdog exited (${signal ?? `code ${code}`})`;
      resolve();
    });
  });

  const pid = readPid(child);
  pid.then(
    (javaPid) => child.once('exit', () => killIfAlive(javaPid)),
    () => {},
  );
  const release = closeOnParentExit(child);

  return {
    pid,
    exitReason: () => exit ?? (isAlive(child.pid) ? undefined : 'the broker watchdog is gone'),
    stop: async () => {
      release();
      child.stdin?.end();
      const waited = withTimeout(exited, (STOP_GRACE_S + 5) * 1000, 'stopping the broker');
      const inTime = await waited.then(
        () => true,
        () => false,
      );
      if (!inTime && child.pid !== undefined) killGroup(child.pid);
      const javaPid = await pid.catch(() => undefined);
      if (javaPid !== undefined) killIfAlive(javaPid);
    },
  };
}

function readPid(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const line = text.split('\n')[0];
      if (text.includes('\n') && line !== undefined) resolve(Number(line.trim()));
    });
    child.once('exit', () => reject(new Error(`the broker watchdog exited before starting java`)));
    child.once('error', reject);
  });
}

/**
 * On SIGINT, SIGTERM or SIGHUP, closes the watchdog's pipe at once (the watchdog then stops
 * the JVM even if this process exits right after), and, when no one else handles the
 * signal, raises it again so the process still ends as it would have.
 */
function closeOnParentExit(child: ChildProcess): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const handler = (signal: NodeJS.Signals) => {
    child.stdin?.destroy();
    release();
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const release = () => {
    for (const signal of signals) process.off(signal, handler);
  };
  for (const signal of signals) process.on(signal, handler);
  return release;
}

async function brokerLogTail(files: BrokerFiles): Promise<string> {
  const read = (file: string) => readFile(file, 'utf8').catch(() => '');
  const log = tail(await read(files.log));
  const stdout = tail(await read(files.stdout));
  return [
    `last lines of ${files.log}:`,
    log || '(empty)',
    `last lines of ${files.stdout}:`,
    stdout || '(empty)',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Shared

/** Waits until the broker describes its cluster, failing fast if it is gone. */
async function waitUntilReady(
  brokers: string[],
  timeoutMs: number,
  exitReason: () => string | undefined,
): Promise<void> {
  const kafka = new Kafka({
    clientId: 'allmap-broker-probe',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;

  while (Date.now() < deadline) {
    const gone = exitReason();
    if (gone !== undefined) throw new Error(`Kafka at ${brokers.join(',')} did not start: ${gone}`);
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.describeCluster();
      return;
    } catch (error) {
      lastError = error;
      await sleep(250);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }
  throw new Error(
    `Kafka at ${brokers.join(',')} did not answer within ${timeoutMs} ms ` +
      `(last error: ${(lastError as Error | undefined)?.message ?? 'none'})`,
  );
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no free port'));
      });
    });
  });
}

function isAlive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killIfAlive(pid: number): void {
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function tail(text: string, lines = 40): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
