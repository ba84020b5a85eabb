/**
 * Whether a hook returned a promise (or any thenable) rather than a plain
 * value. The serving path awaits only what needs it: each `await` of a plain
 * value still costs a turn of the microtask queue per request.
 * @internal
 */
export function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}
