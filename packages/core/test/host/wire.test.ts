import { describe, expect, it } from 'vitest';
import { SocketServerError, TimeoutError } from '../../src/errors.js';
import { HostExitedError } from '../../src/host/errors.js';
import { fromWire, registerErrorClasses, toWire } from '../../src/host/wire.js';

/** What a host does to an error: describe it, clone it across, rebuild it. */
const cross = (error: unknown) => fromWire(structuredClone(toWire(error)));

describe('the error wire format', () => {
  it('keeps a built-in class, message, stack, code and own fields', () => {
    const original = Object.assign(new TypeError('bad type'), { code: 'E_X', errno: -2 });
    const error = cross(original) as TypeError & { code: string; errno: number };
    expect(error).toBeInstanceOf(TypeError);
    expect(error.name).toBe('TypeError');
    expect(error.message).toBe('bad type');
    expect(error.stack).toBe(original.stack);
    expect(error.code).toBe('E_X');
    expect(error.errno).toBe(-2);
  });

  it('keeps @socketserver classes with their fields', () => {
    const error = cross(new TimeoutError(1500)) as TimeoutError;
    expect(error).toBeInstanceOf(TimeoutError);
    expect(error).toBeInstanceOf(SocketServerError);
    expect(error.code).toBe('ERR_SOCKETSERVER_TIMEOUT');
    expect(error.timeout).toBe(1500);
    expect(error.name).toBe('TimeoutError');
  });

  it('an unknown class comes back as its nearest known ancestor, with its own name', () => {
    class MineError extends SocketServerError {
      constructor() {
        super('ERR_MINE', 'mine');
      }
    }
    const error = cross(new MineError());
    expect(error).toBeInstanceOf(SocketServerError);
    expect(error.name).toBe('MineError');
    expect(toWire(new MineError()).classes).toEqual(['MineError', 'SocketServerError', 'Error']);
    registerErrorClasses(MineError);
    expect(cross(new MineError())).toBeInstanceOf(MineError);
  });

  it('keeps causes and the errors of an AggregateError, each described the same way', () => {
    const original = new AggregateError(
      [new RangeError('one'), new HostExitedError('process', 9, 1, null, null)],
      'both',
      { cause: new SyntaxError('why') },
    );
    const error = cross(original) as AggregateError;
    expect(error).toBeInstanceOf(AggregateError);
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(error.errors[0]).toBeInstanceOf(RangeError);
    expect(error.errors[1]).toBeInstanceOf(HostExitedError);
    expect((error.errors[1] as HostExitedError).hostId).toBe(9);
  });

  it('a thrown value that is not an Error comes back as an Error holding it', () => {
    const error = cross({ reason: 'plain object' }) as Error & { value: unknown };
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain('non-Error thrown');
    expect(error.value).toEqual({ reason: 'plain object' });
    expect((cross(() => 1) as Error & { value: unknown }).value).toMatch(/=>/);
  });

  it('leaves out fields that cannot be cloned', () => {
    const error = cross(Object.assign(new Error('x'), { fn: () => 1, ok: 2 }));
    expect(error).not.toHaveProperty('fn');
    expect(error).toHaveProperty('ok', 2);
  });
});
