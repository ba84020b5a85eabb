/** The connection's timers, as a state machine on fake timers and a fake socket. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConnectionTimers, type Expiry, type TimerLimits } from '../src/connection-timers.js';

const LIMITS: TimerLimits = {
  keepAliveTimeout: 5_000,
  headTimeout: 10_000,
  bodyTimeout: 10_000,
  bodyMinRate: 500,
  sendTimeout: 30_000,
};

/** A socket with the fields the timers read, moved by the test. */
function fakeSocket() {
  return {
    writableLength: 0,
    bytesWritten: 0,
    paused: false,
    isPaused() {
      return this.paused;
    },
    _handle: { writeQueueSize: 0 },
  };
}

let expired: Array<[Expiry, number]>;
let socket: ReturnType<typeof fakeSocket>;
let timers: ConnectionTimers;
let t0: number;

beforeEach(() => {
  vi.useFakeTimers();
  t0 = Date.now();
  expired = [];
  socket = fakeSocket();
  timers = new ConnectionTimers(LIMITS, socket, (what) => expired.push([what, Date.now() - t0]));
});

afterEach(() => {
  timers.stop();
  vi.useRealTimers();
});

describe('read-side phases', () => {
  it('idle: the keep-alive limit, unless a byte starts the next head', () => {
    timers.idle();
    vi.advanceTimersByTime(4_999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([['idle', 5_000]]);

    expired = [];
    timers.idle();
    vi.advanceTimersByTime(2_000);
    timers.received(1);
    expect(timers.phase).toBe('head');
    vi.advanceTimersByTime(9_999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired.map(([what]) => what)).toEqual(['head']);
  });

  it('head: a deadline from its start, however the bytes trickle in', () => {
    timers.head();
    for (let i = 0; i < 9; i++) {
      vi.advanceTimersByTime(1_000);
      timers.received(1);
    }
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual([['head', 10_000]]);
  });

  it('a timer that fires in another phase does nothing', () => {
    timers.head();
    vi.advanceTimersByTime(5_000);
    timers.busy();
    vi.advanceTimersByTime(20_000);
    expect(expired).toEqual([]);
  });

  it('head is re-armed for each request', () => {
    timers.head();
    vi.advanceTimersByTime(8_000);
    timers.busy();
    timers.idle();
    vi.advanceTimersByTime(1_000);
    timers.received(10);
    vi.advanceTimersByTime(9_000);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(expired).toEqual([['head', 19_000]]);
  });
});

describe('body: a deadline and a minimum rate', () => {
  it('one byte every 3 s is cut off at the deadline (hole 1)', () => {
    timers.body(65_536);
    const drip = setInterval(() => timers.received(1), 3_000);
    vi.advanceTimersByTime(60_000);
    clearInterval(drip);
    expect(expired.map(([what]) => what)).toEqual(['body']);
    // 10 s, plus 1 s per 500 bytes: a few bytes buy a few ms.
    expect(expired[0]![1]).toBeGreaterThanOrEqual(10_000);
    expect(expired[0]![1]).toBeLessThan(10_100);
  });

  it('a body sent at the minimum rate is never cut off, and ends the phase', () => {
    timers.body(50_000);
    const steady = setInterval(() => timers.received(500), 1_000);
    vi.advanceTimersByTime(99_000);
    expect(expired).toEqual([]);
    expect(timers.phase).toBe('body');
    vi.advanceTimersByTime(1_000);
    clearInterval(steady);
    expect(timers.phase).toBe('busy');
    vi.advanceTimersByTime(60_000);
    expect(expired).toEqual([]);
  });

  it('no clock while the reader has paused the socket (the handler is slow, not the client)', () => {
    timers.body(1_000_000);
    timers.received(65_536);
    socket.paused = true;
    vi.advanceTimersByTime(600_000);
    expect(expired).toEqual([]);
    socket.paused = false;
    vi.advanceTimersByTime(20_000);
    expect(expired.map(([what]) => what)).toEqual(['body']);
  });

  it('no pending bytes: busy at once', () => {
    timers.body(0);
    expect(timers.phase).toBe('busy');
  });
});

describe('send: no progress for sendTimeout', () => {
  it('a stalled write is cut off at sendTimeout, not twice it (hole 2)', () => {
    socket.writableLength = 1_000_000;
    socket.bytesWritten = 1_000_000;
    socket._handle.writeQueueSize = 200_000;
    timers.wrote();
    vi.advanceTimersByTime(29_999);
    expect(expired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(expired).toEqual([['send', 30_000]]);
  });

  it('a slow reader whose large write goes out in parts is not cut off', () => {
    socket.writableLength = 262_144;
    socket.bytesWritten = 262_144;
    socket._handle.writeQueueSize = 262_144;
    timers.wrote();
    for (let i = 0; i < 20; i++) {
      vi.advanceTimersByTime(10_000);
      socket._handle.writeQueueSize -= 10_000;
    }
    expect(expired).toEqual([]);
    // Then it stops: cut off within a tenth of the limit after sendTimeout.
    const stalledAt = Date.now() - t0;
    vi.advanceTimersByTime(40_000);
    expect(expired.map(([what]) => what)).toEqual(['send']);
    expect(expired[0]![1] - stalledAt).toBeGreaterThanOrEqual(30_000);
    expect(expired[0]![1] - stalledAt).toBeLessThanOrEqual(33_000);
  });

  it('completed writes count as progress; nothing waiting stops the watch', () => {
    socket.writableLength = 100;
    socket.bytesWritten = 100;
    timers.wrote();
    vi.advanceTimersByTime(20_000);
    socket.writableLength = 50;
    vi.advanceTimersByTime(20_000);
    expect(expired).toEqual([]);
    socket.writableLength = 0;
    vi.advanceTimersByTime(120_000);
    expect(expired).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop clears every timer', () => {
    timers.idle();
    timers.head();
    timers.body(10);
    socket.writableLength = 1;
    timers.wrote();
    timers.stop();
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(120_000);
    expect(expired).toEqual([]);
  });
});
