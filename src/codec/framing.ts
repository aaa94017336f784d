import type { Type, types } from 'avsc';

/**
 * Checks that bytes frame one value of an Avro type before avsc decodes them.
 *
 * avsc trusts the item counts it reads: garbage whose array or map count decodes to
 * billions makes it allocate and loop for minutes instead of failing, and it reports
 * every overrun as a plain `Error`. This walk skips over the value the way a decoder
 * would, refuses any count larger than the bytes left could hold, and says exactly
 * what is wrong and at which byte, so that bad messages fail fast and precisely.
 */

export type FramingReason =
  | 'truncated'
  | 'trailing-bytes'
  | 'invalid-union-branch'
  | 'invalid-bytes';

export class FramingProblem extends Error {
  constructor(
    readonly reason: FramingReason,
    readonly position: number,
    detail: string,
  ) {
    super(`${detail} (at byte ${position})`);
  }
}

/** Throws `FramingProblem` unless `bytes` hold exactly one value of `type`. */
export function checkFraming(type: Type, bytes: Uint8Array): void {
  const reader = new ByteReader(bytes);
  skipValue(type, reader);
  if (reader.position < bytes.length) {
    const extra = bytes.length - reader.position;
    throw new FramingProblem(
      'trailing-bytes',
      reader.position,
      `${extra} bytes follow the end of the value`,
    );
  }
}

class ByteReader {
  position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  /** A zig-zag varint, as Avro writes int and long; at most 10 bytes. */
  readLong(): number {
    const start = this.position;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.bytes[this.position];
      if (byte === undefined) {
        throw new FramingProblem('truncated', start, 'the bytes end inside a number');
      }
      this.position++;
      value += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
      scale *= 128;
    }
    throw new FramingProblem('invalid-bytes', start, 'a number runs past 10 bytes');
  }

  skip(count: number, what: string): void {
    if (count > this.remaining) {
      const detail = `${what} needs ${count} bytes but ${this.remaining} remain`;
      throw new FramingProblem('truncated', this.position, detail);
    }
    this.position += count;
  }
}

function skipValue(type: Type, reader: ByteReader): void {
  const name = type.typeName;
  if (name === 'null') return;
  if (name === 'int' || name === 'long') {
    reader.readLong();
  } else if (name === 'bytes' || name === 'string') {
    reader.skip(readLength(reader, name), `a ${name}`);
  } else if (name === 'record' || name === 'error') {
    for (const field of (type as types.RecordType).fields) skipValue(field.type, reader);
  } else if (name === 'array') {
    skipBlocks(reader, [(type as types.ArrayType).itemsType], 'array');
  } else if (name === 'map') {
    skipBlocks(reader, [STRING, (type as types.MapType).valuesType as Type], 'map');
  } else if (name === 'enum') {
    skipEnum(type as types.EnumType, reader);
  } else if (name.startsWith('union:')) {
    skipUnion(type as types.UnwrappedUnionType, reader);
  } else if (isFixedSize(type)) {
    reader.skip(minSize(type), `a ${name}`);
  } else {
    skipLogical(type, reader);
  }
}

/** Stands for a map key in `minSize`; only its `typeName` is read. */
const STRING = { typeName: 'string' } as Type;

function readLength(reader: ByteReader, what: string): number {
  const start = reader.position;
  const length = reader.readLong();
  if (length < 0) {
    throw new FramingProblem('invalid-bytes', start, `a ${what} claims length ${length}`);
  }
  return length;
}

function skipEnum(type: types.EnumType, reader: ByteReader): void {
  const start = reader.position;
  const index = reader.readLong();
  if (index < 0 || index >= type.symbols.length) {
    const allowed = `0 to ${type.symbols.length - 1}`;
    throw new FramingProblem('invalid-bytes', start, `enum index ${index}; allowed ${allowed}`);
  }
}

function skipUnion(type: types.UnwrappedUnionType, reader: ByteReader): void {
  const start = reader.position;
  const index = reader.readLong();
  const branch = type.types[index];
  if (!branch) {
    const allowed = `0 to ${type.types.length - 1}`;
    throw new FramingProblem(
      'invalid-union-branch',
      start,
      `union branch ${index}; allowed ${allowed}`,
    );
  }
  skipValue(branch, reader);
}

/**
 * Arrays and maps come in blocks: a count (negative when followed by the block's
 * byte size), the items, and a zero count to close. `parts` is what one item holds.
 */
function skipBlocks(reader: ByteReader, parts: Type[], what: string): void {
  const itemSize = parts.reduce((sum, part) => sum + minSize(part), 0);
  for (;;) {
    const start = reader.position;
    let count = reader.readLong();
    if (count === 0) return;
    if (count < 0) {
      count = -count;
      readLength(reader, `${what} block`);
    }

    // Items that take no bytes (nulls) are held to one byte each too: a bound allmap's
    // schemas never come near, and the only one that stops a count from looping for ever.
    if (count * Math.max(itemSize, 1) > reader.remaining) {
      const detail = `${what} block claims ${count} items but ${reader.remaining} bytes remain`;
      throw new FramingProblem(itemSize > 0 ? 'truncated' : 'invalid-bytes', start, detail);
    }
    skipItems(reader, parts, count, itemSize);
  }
}

function skipItems(reader: ByteReader, parts: Type[], count: number, itemSize: number): void {
  // Items of one fixed size (floats, doubles) need no walk: skip them in one step.
  const [only] = parts;
  if (parts.length === 1 && only && isFixedSize(only)) {
    reader.skip(count * itemSize, `${count} items`);
    return;
  }
  for (let i = 0; i < count; i++) {
    for (const part of parts) skipValue(part, reader);
  }
}

function skipLogical(type: Type, reader: ByteReader): void {
  const underlying = (type as Partial<types.LogicalType>).underlyingType;
  if (!underlying) throw new Error(`framing check does not know Avro type ${type.typeName}`);
  skipValue(underlying, reader);
}

function isFixedSize(type: Type): boolean {
  return ['float', 'double', 'fixed', 'boolean', 'null'].includes(type.typeName);
}

const minSizes = new WeakMap<Type, number>();

/** The fewest bytes a value of `type` can take; bounds how many items a block can hold. */
function minSize(type: Type): number {
  const known = minSizes.get(type);
  if (known !== undefined) return known;

  // A recursive record counts as 0 while its own size is being worked out.
  minSizes.set(type, 0);
  const size = computeMinSize(type);
  minSizes.set(type, size);
  return size;
}

function computeMinSize(type: Type): number {
  switch (type.typeName) {
    case 'null':
      return 0;
    case 'boolean':
      return 1;
    case 'float':
      return 4;
    case 'double':
      return 8;
    case 'fixed':
      return (type as types.FixedType).size;
    case 'record':
    case 'error':
      return (type as types.RecordType).fields.reduce((sum, field) => sum + minSize(field.type), 0);
    default: {
      const underlying = (type as Partial<types.LogicalType>).underlyingType;
      // Everything else starts with at least one byte: a varint, a length or a branch index.
      return underlying ? minSize(underlying) : 1;
    }
  }
}
