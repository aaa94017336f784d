import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Schema } from 'avsc';
import { SchemaError } from './errors.js';

/** The schemas of one codec: the versions it writes and reads into, and older writers. */
export interface SchemaSet {
  /** The current version of every schema; each is read into and written with. */
  readonly current: readonly Schema[];
  /** Earlier versions, kept so data they wrote can still be read. */
  readonly history: readonly Schema[];
}

/**
 * Finds the `schemas` folder by walking up from this file, so the same code finds it
 * when run from `src/` (tsx, vitest) and from the compiled `dist/src/`.
 */
export function findSchemasDir(start: string = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'schemas', 'Episode.avsc'))) return join(dir, 'schemas');
    if (dirname(dir) === dir) {
      throw new SchemaError(`no schemas/Episode.avsc in ${start} or any folder above it`);
    }
  }
}

/** Reads `<dir>/*.avsc` as the current schemas and `<dir>/history/*.avsc` as older ones. */
export function loadSchemaSet(dir: string = findSchemasDir()): SchemaSet {
  const historyDir = join(dir, 'history');
  return {
    current: readSchemas(dir),
    history: existsSync(historyDir) ? readSchemas(historyDir) : [],
  };
}

function readSchemas(dir: string): Schema[] {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.avsc'))
    .sort();
  return files.map((name) => readSchema(join(dir, name)));
}

function readSchema(path: string): Schema {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Schema;
  } catch (cause) {
    throw new SchemaError(`schema file ${path} is not valid JSON`, { cause });
  }
}
