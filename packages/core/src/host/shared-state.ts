/**
 * `SharedState`: named typed arrays over one `SharedArrayBuffer`, with a
 * {@link Lock}, seen alike by the main thread and every worker thread.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';
import { Lock } from './lock.js';

const ARRAYS = {
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
  bigint64: BigInt64Array,
  biguint64: BigUint64Array,
} as const;

/** The element types a {@link SharedState} field can have. */
export type SharedFieldType = keyof typeof ARRAYS;

/** A field: one element of a type, or `[type, length]` for an array of them. */
export type SharedFieldSpec = SharedFieldType | readonly [SharedFieldType, number];

/** A {@link SharedState}'s layout: field name to {@link SharedFieldSpec}. */
export type SharedSchema = Record<string, SharedFieldSpec>;

type TypeOf<F extends SharedFieldSpec> = F extends readonly [infer T, number] ? T : F;

/** The typed array a field is, for example `Int32Array` for `'int32'`. */
export type SharedArrayFor<F extends SharedFieldSpec> = InstanceType<
  (typeof ARRAYS)[TypeOf<F> & SharedFieldType]
>;

/** The fields of a {@link SharedState}: one typed array per name. */
export type SharedFields<S extends SharedSchema> = {
  readonly [K in keyof S]: SharedArrayFor<S[K]>;
};

/**
 * State shared by the main thread and every worker thread: the seed's
 * "you will probably have to use locks to protect the integrity of the
 * shared data", made real. Each field is a typed array over one
 * `SharedArrayBuffer`, so a write in one thread is seen by all; {@link lock}
 * guards multi-step updates, and `Atomics` works on the integer fields for
 * single-step ones.
 *
 * Put it in a server field; handlers in workers find it at the same place
 * on `this.server`:
 *
 * ```ts
 * class Server extends ThreadingMixIn(TCPServer) {
 *   state = new SharedState({ hits: 'int32', seen: ['uint8', 256] });
 * }
 * // in the handler (a worker):
 * const { state } = this.server as unknown as Server;
 * state.lock.withLock(() => { state.fields.hits[0]! += 1; });
 * ```
 *
 * Only numbers live here (typed arrays); strings and objects must be encoded
 * into bytes by the user. Objects that are not shared memory are copied to
 * each worker when it starts, and changes to them are not seen elsewhere.
 */
export class SharedState<S extends SharedSchema = SharedSchema> {
  /** The layout this state was created with. */
  readonly schema: S;
  /** The shared memory behind every field and the lock. */
  readonly buffer: SharedArrayBuffer;
  /** The fields, by name: typed arrays over {@link buffer}. */
  readonly fields: SharedFields<S>;
  /** A lock for this state, in the same shared memory. */
  readonly lock: Lock;

  /**
   * Allocates zeroed shared memory for `schema` (or, in a worker, views
   * memory it was sent).
   * @param schema - field name to `'int32'`, `['float64', 4]`, ...
   * @param buffer - existing memory laid out for `schema` (used by workers).
   */
  constructor(schema: S, buffer?: SharedArrayBuffer) {
    const layout = layOut(schema);
    if (buffer !== undefined && buffer.byteLength < layout.size) {
      throw new InvalidArgumentError('SharedState buffer is smaller than its schema needs');
    }
    this.schema = schema;
    this.buffer = buffer ?? new SharedArrayBuffer(layout.size);
    this.lock = new Lock(this.buffer, 0);
    const fields: Record<string, unknown> = {};
    for (const { name, type, offset, length } of layout.fields) {
      const Ctor = ARRAYS[type] as new (
        buffer: SharedArrayBuffer,
        byteOffset: number,
        length: number,
      ) => unknown;
      fields[name] = new Ctor(this.buffer, offset, length);
    }
    this.fields = Object.freeze(fields) as SharedFields<S>;
  }
}

interface FieldLayout {
  name: string;
  type: SharedFieldType;
  offset: number;
  length: number;
}

function layOut(schema: SharedSchema): { size: number; fields: FieldLayout[] } {
  if (typeof schema !== 'object' || schema === null) {
    throw new InvalidArgumentError('SharedState needs a schema object: { name: "int32", ... }');
  }
  let offset = 8; // the lock's Int32, padded so float64/bigint64 fields stay aligned
  const fields: FieldLayout[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    const [type, length] = Array.isArray(spec) ? spec : [spec, 1];
    const Ctor = ARRAYS[type as SharedFieldType];
    if (Ctor === undefined) {
      throw new InvalidArgumentError(
        `SharedState field ${name}: unknown type ${String(type)} (one of ${Object.keys(ARRAYS).join(', ')})`,
      );
    }
    if (!Number.isInteger(length) || length < 1) {
      throw new InvalidArgumentError(
        `SharedState field ${name}: length must be a positive integer`,
      );
    }
    const size = Ctor.BYTES_PER_ELEMENT;
    offset = Math.ceil(offset / size) * size;
    fields.push({ name, type: type as SharedFieldType, offset, length });
    offset += size * length;
  }
  return { size: Math.max(8, Math.ceil(offset / 8) * 8), fields };
}

const MARK = '@socketserver/core/host:shared';

type Packed =
  | { [MARK]: 'Lock'; buffer: SharedArrayBuffer; byteOffset: number }
  | { [MARK]: 'SharedState'; buffer: SharedArrayBuffer; schema: SharedSchema };

/**
 * Replaces each {@link Lock} and {@link SharedState} in `value` (itself, or
 * in plain objects and arrays inside it) with a cloneable description, so
 * it can be sent to a worker; {@link unpackShared} rebuilds them there over
 * the same memory.
 */
export function packShared(value: unknown, depth = 0): unknown {
  if (value instanceof Lock)
    return { [MARK]: 'Lock', buffer: value.buffer, byteOffset: value.byteOffset };
  if (value instanceof SharedState)
    return { [MARK]: 'SharedState', buffer: value.buffer, schema: value.schema };
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => packShared(item, depth + 1));
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = packShared(item, depth + 1);
  return out;
}

/** Rebuilds what {@link packShared} described, in the receiving thread. */
export function unpackShared(value: unknown, depth = 0): unknown {
  if (depth > 9 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((item) => unpackShared(item, depth + 1));
  const packed = value as Partial<Packed>;
  if (packed[MARK] === 'Lock') {
    const lock = packed as Extract<Packed, { [MARK]: 'Lock' }>;
    return new Lock(lock.buffer, lock.byteOffset);
  }
  if (packed[MARK] === 'SharedState') {
    const state = packed as Extract<Packed, { [MARK]: 'SharedState' }>;
    return new SharedState(state.schema, state.buffer);
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = unpackShared(item, depth + 1);
  return out;
}
