import avro, { type Resolver, type Schema, type Type } from 'avsc';
import type { Episode } from '../episode/episode.js';
import { episodeFromRecord, episodeToRecord } from './convert.js';
import {
  DecodeError,
  type DecodeReason,
  EncodeError,
  type MessageLocation,
  SchemaError,
} from './errors.js';
import { checkFraming, FramingProblem } from './framing.js';
import type { AllmapRecords } from './records.js';
import { loadSchemaSet, type SchemaSet } from './schema-files.js';

/** The message header that names the writer schema: `<Name>@<fingerprint hex>`. */
export const SCHEMA_HEADER = 'allmap-schema';

/** Kafka-style headers as kafkajs hands them over. */
export type MessageHeaders = Readonly<
  Record<string, Buffer | string | ReadonlyArray<Buffer | string> | undefined>
>;

/** An encoded message: the Avro bytes and the header that names their schema. */
export interface EncodedMessage {
  readonly value: Buffer;
  readonly headers: { [SCHEMA_HEADER]: string };
}

/** A writer schema in its canonical form, as another process needs it to read our data. */
export interface WriterSchema {
  readonly header: string;
  readonly schema: string;
}

interface KnownSchema {
  readonly name: string;
  readonly header: string;
  readonly type: Type;
}

const HEADER_FORMAT = /^([A-Za-z_][A-Za-z0-9_]*)@([0-9a-f]{32})$/;

/**
 * Encodes and decodes allmap's Avro records. Every message carries the fingerprint of
 * its writer schema in a header; decoding finds that schema among every version known
 * (current, history, learned) and resolves it against the current reader schema, so
 * new readers read old data and old readers read new data once they know its schema.
 */
export class AvroCodec<Records extends object = AllmapRecords> {
  private readonly readers = new Map<string, KnownSchema>();
  private readonly writers = new Map<string, KnownSchema>();
  private readonly resolvers = new Map<string, Resolver>();

  constructor(schemas: SchemaSet) {
    for (const schema of schemas.current) {
      const known = this.addWriter(schema);
      if (this.readers.has(known.name)) {
        throw new SchemaError(`two current schemas are named ${known.name}`);
      }
      this.readers.set(known.name, known);
    }
    for (const schema of schemas.history) this.addWriter(schema);
  }

  /** The header value that marks messages written with the current `name` schema. */
  headerOf(name: keyof Records & string): string {
    return this.reader(name).header;
  }

  /** The current schemas in canonical form, for a process that reads what this one writes. */
  writerSchemas(): WriterSchema[] {
    return [...this.readers.values()].map(({ header, type }) => ({
      header,
      schema: JSON.stringify(type.schema()),
    }));
  }

  /**
   * Adds a writer schema learned at run time (another process's newer version), after
   * checking that it hashes to the fingerprint its header claims.
   */
  learnSchema(header: string, schema: string | Schema): void {
    const parsed = typeof schema === 'string' ? parseJson(schema) : schema;
    const known = describeSchema(parsed);
    if (known.header !== header) {
      throw new SchemaError(`schema announced as ${header} hashes to ${known.header}`);
    }
    this.addWriter(parsed);
  }

  encode<N extends keyof Records & string>(name: N, record: Records[N]): EncodedMessage {
    const { type, header } = this.reader(name);
    checkEncodable(name, type, record);
    return { value: type.toBuffer(record), headers: { [SCHEMA_HEADER]: header } };
  }

  /** Decodes one message into the current `name` record; throws `DecodeError`. */
  decode<N extends keyof Records & string>(
    name: N,
    value: Buffer,
    headers: MessageHeaders | undefined,
    location: MessageLocation,
  ): Records[N] {
    const reader = this.reader(name);
    const fail = (reason: DecodeReason, detail: string, header?: string, cause?: unknown) =>
      new DecodeError({
        reason,
        schema: name,
        location,
        header,
        byteLength: value.length,
        detail,
        cause,
      });

    const header = readHeader(headers);
    const writer = this.findWriter(name, header, fail);
    const resolver = this.resolverFor(reader, writer, fail);

    try {
      checkFraming(writer.type, value);
    } catch (error) {
      if (error instanceof FramingProblem) throw fail(error.reason, error.message, header, error);
      throw error;
    }

    try {
      return reader.type.fromBuffer(value, resolver) as Records[N];
    } catch (cause) {
      throw fail('invalid-bytes', errorText(cause), header, cause);
    }
  }

  private findWriter(name: string, header: string | undefined, fail: Fail): KnownSchema {
    if (header === undefined) {
      throw fail('missing-schema-header', `the message has no ${SCHEMA_HEADER} header`);
    }
    const match = HEADER_FORMAT.exec(header);
    if (!match) {
      const detail = `header ${JSON.stringify(header)} is not <Name>@<32 hex digits>`;
      throw fail('malformed-schema-header', detail, header);
    }
    if (match[1] !== name) {
      throw fail('wrong-schema', `the message holds ${match[1]}, not ${name}`, header);
    }

    const writer = this.writers.get(header);
    if (!writer) {
      const known = [...this.writers.keys()].filter((key) => key.startsWith(`${name}@`));
      const detail = `no known ${name} schema has fingerprint ${match[2]}; known: ${known.join(', ')}`;
      throw fail('unknown-schema', detail, header);
    }
    return writer;
  }

  private resolverFor(reader: KnownSchema, writer: KnownSchema, fail: Fail): Resolver | undefined {
    if (writer === reader) return undefined;

    const key = `${reader.header}<-${writer.header}`;
    let resolver = this.resolvers.get(key);
    if (!resolver) {
      try {
        resolver = reader.type.createResolver(writer.type);
      } catch (cause) {
        const detail = `writer ${writer.header} cannot be read as ${reader.header}: ${errorText(cause)}`;
        throw fail('unresolvable-schema', detail, writer.header, cause);
      }
      this.resolvers.set(key, resolver);
    }
    return resolver;
  }

  private reader(name: string): KnownSchema {
    const known = this.readers.get(name);
    if (!known) {
      throw new SchemaError(
        `no current schema is named ${name}; known: ${[...this.readers.keys()].join(', ')}`,
      );
    }
    return known;
  }

  /** Registers a writer schema; a version already known keeps its first entry. */
  private addWriter(schema: Schema): KnownSchema {
    const described = describeSchema(schema);
    const known = this.writers.get(described.header) ?? described;
    this.writers.set(known.header, known);
    return known;
  }
}

function describeSchema(schema: Schema): KnownSchema {
  const type = parseSchema(schema);
  const name = shortName(type);
  return { name, header: `${name}@${type.fingerprint().toString('hex')}`, type };
}

function parseJson(text: string): Schema {
  try {
    return JSON.parse(text) as Schema;
  } catch (cause) {
    throw new SchemaError(`a learned schema is not valid JSON: ${errorText(cause)}`, { cause });
  }
}

type Fail = (reason: DecodeReason, detail: string, header?: string, cause?: unknown) => DecodeError;

/** Wraps avsc's parse errors; `wrapUnions: 'auto'` keeps `["null", T]` unions plain. */
function parseSchema(schema: Schema): Type {
  try {
    return avro.Type.forSchema(schema, { wrapUnions: 'auto' });
  } catch (cause) {
    throw new SchemaError(`invalid Avro schema: ${errorText(cause)}`, { cause });
  }
}

function shortName(type: Type): string {
  const fullName = type.name;
  if (!fullName) throw new SchemaError(`a top-level schema must be a named record`);
  return fullName.slice(fullName.lastIndexOf('.') + 1);
}

function readHeader(headers: MessageHeaders | undefined): string | undefined {
  const raw = headers?.[SCHEMA_HEADER];
  const values = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const texts = new Set(values.map((value) => value.toString()));
  // Several different values cannot all name the writer: keep them, so the format check fails.
  return texts.size === 0 ? undefined : [...texts].join(',');
}

function checkEncodable(name: string, type: Type, record: unknown): void {
  if (type.isValid(record)) return;

  // Only a failed record pays for the second walk that records the path of the bad field.
  let problem: EncodeError | undefined;
  type.isValid(record, {
    errorHook: (path: string[], value: unknown, expected: Type) => {
      problem ??= new EncodeError(name, path.join('.'), value, describeType(expected));
    },
  });
  throw problem ?? new EncodeError(name, '', record, name);
}

function describeType(type: Type): string {
  return type.name ?? type.typeName;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

let shared: AvroCodec | undefined;

/** The process-wide codec over the schemas in `schemas/`, loaded on first use. */
export function defaultCodec(): AvroCodec {
  shared ??= new AvroCodec(loadSchemaSet());
  return shared;
}

/** Encodes a domain episode with the current Episode schema. */
export function encodeEpisode(episode: Episode, codec: AvroCodec = defaultCodec()): EncodedMessage {
  return codec.encode('Episode', episodeToRecord(episode));
}

/** Decodes an episode message into the domain type; throws `DecodeError`. */
export function decodeEpisode(
  value: Buffer,
  headers: MessageHeaders | undefined,
  location: MessageLocation,
  codec: AvroCodec = defaultCodec(),
): Episode {
  const record = codec.decode('Episode', value, headers, location);
  try {
    return episodeFromRecord(record);
  } catch (cause) {
    // Float32 bytes whose length is not a multiple of 4: well-framed Avro, broken payload.
    throw new DecodeError({
      reason: 'invalid-bytes',
      schema: 'Episode',
      location,
      header: codec.headerOf('Episode'),
      byteLength: value.length,
      detail: errorText(cause),
      cause,
    });
  }
}
