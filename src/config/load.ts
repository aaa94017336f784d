import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { type Config, configSchema } from './schema.js';

type Tree = { [key: string]: unknown };

export interface ConfigSources {
  /** Values from command-line flags, already shaped like the config (highest precedence). */
  flags?: Tree;
  /** Usually `process.env`; only `ALLMAP_*` variables are read. */
  env?: NodeJS.ProcessEnv;
  /** Optional JSON or YAML file; `ALLMAP_CONFIG` names one when this is absent. */
  file?: string;
}

/** Flags over environment over config file over defaults, validated as a whole. */
export function loadConfig(sources: ConfigSources = {}): Config {
  const env = sources.env ?? {};
  const file = sources.file ?? env.ALLMAP_CONFIG;

  const layers: Array<{ name: string; tree: Tree }> = [];
  if (file) layers.push({ name: `config file ${file}`, tree: readConfigFile(file) });
  layers.push({ name: 'environment', tree: fromEnvironment(env) });
  layers.push({ name: 'command line', tree: sources.flags ?? {} });

  const merged = layers.reduce<Tree>((acc, layer) => merge(acc, layer.tree), {});
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;

  const issue = parsed.error.issues[0]!;
  // An unknown key is reported by its own path, not its parent's.
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
  const source = layers.findLast((layer) => has(layer.tree, path))?.name ?? 'defaults';
  throw new ConfigError(path.join('.'), expectation(issue), valueAt(merged, path), source);
}

function readConfigFile(file: string): Tree {
  const source = `config file ${file}`;
  let tree: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    tree = extname(file) === '.json' ? JSON.parse(text) : YAML.parse(text);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ConfigError('config', 'a readable JSON or YAML file', reason, source);
  }
  if (!isTree(tree)) throw new ConfigError('config', 'a file holding one object', tree, source);
  return tree;
}

/** Maps `ALLMAP_ENGINE_INTRA_OP_THREADS` onto `engine.intraOpThreads` using the schema's keys. */
export function fromEnvironment(env: NodeJS.ProcessEnv): Tree {
  const tree: Tree = {};
  const known = new Set(OTHER_VARIABLES);
  for (const path of leafPaths(configSchema)) {
    const name = `ALLMAP_${path.map(snake).join('_')}`;
    known.add(name);
    const value = env[name];
    if (value !== undefined && value !== '') setAt(tree, path, value);
  }

  // A misspelt variable would otherwise be ignored without a word, as a typo in a file is not.
  const unknown = Object.keys(env).find((name) => name.startsWith('ALLMAP_') && !known.has(name));
  if (unknown !== undefined) {
    throw new ConfigError(
      unknown,
      'a known ALLMAP_* variable (`allmap config` prints the keys)',
      env[unknown],
      'environment',
    );
  }
  return tree;
}

/** ALLMAP_* variables that are not config keys: each is read where it is used. */
const OTHER_VARIABLES = [
  'ALLMAP_CONFIG', // the config file itself
  'ALLMAP_DATA', // the Fashion-MNIST folder, read by the dataset loader
  'ALLMAP_CACHE_DIR', // where the test broker's Kafka jars are cached
  'ALLMAP_KAFKA_VERSION', // which Kafka the test broker runs
  'ALLMAP_KAFKA_IMAGE', // the Kafka image the test setup runs where Docker answers
];

function leafPaths(schema: z.ZodType, prefix: string[] = []): string[][] {
  const shape = objectShape(schema);
  if (!shape) return [prefix];
  return Object.entries(shape).flatMap(([key, child]) => leafPaths(child, [...prefix, key]));
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  let current: unknown = schema;
  // Unwrap defaults, optionals and pipes until an object (or a leaf) shows.
  for (let depth = 0; depth < 8; depth++) {
    if (current instanceof z.ZodObject) return current.shape as Record<string, z.ZodType>;
    const def = (current as { def?: { innerType?: unknown; in?: unknown } }).def;
    const next = def?.innerType ?? def?.in;
    if (!next) return undefined;
    current = next;
  }
  return undefined;
}

function snake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

function expectation(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_value':
      return `one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
    case 'invalid_type':
      return `a value of type ${issue.expected}`;
    case 'too_small':
      return `a number ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big':
      return `a number ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    case 'unrecognized_keys':
      return 'a known key (`allmap config` prints them all)';
    default:
      return issue.message;
  }
}

function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (value === undefined) continue;
    const prior = out[key];
    out[key] = isTree(value) && isTree(prior) ? merge(prior, value) : value;
  }
  return out;
}

function isTree(value: unknown): value is Tree {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function setAt(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[path.at(-1)!] = value;
}

function valueAt(tree: Tree, path: PropertyKey[]): unknown {
  let node: unknown = tree;
  for (const key of path) node = isTree(node) ? node[key as string] : undefined;
  return node;
}

function has(tree: Tree, path: PropertyKey[]): boolean {
  return valueAt(tree, path) !== undefined;
}
