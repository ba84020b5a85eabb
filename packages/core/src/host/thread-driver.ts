/**
 * The worker-thread driver: hosts are `worker_threads`. A TCP connection
 * moves to its worker where the Node line allows it (24.21 and later, 26),
 * and the worker reads and writes it itself; elsewhere (Unix stream sockets,
 * Node 20 and 22) the connection stays here and its bytes are bridged as
 * records. Datagrams are copied to the worker; its replies leave from the
 * server's socket.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { proxyHeaderOf } from '../connection-setup.js';
import { canMoveSockets } from '../node-internals.js';
import type { DatagramRequest } from '../types.js';
import { portableProxyHeader, tlsFactsOf } from './bridged-facts.js';
import type { HostDriver, HostEvents, HostJob, HostProcess } from './pool.js';
import {
  ACK,
  ACK_EVERY,
  CLOSE,
  CREDIT,
  DATA,
  DESTROY,
  END,
  FIN,
  KEEP_ALIVE,
  NO_DELAY,
  payloadNumber,
  RecordWriter,
  readRecords,
  WRITE,
} from './records.js';
import { BOOTSTRAP, HOST_RUNTIME } from './script.js';
import type { HostPoolSettings } from './settings.js';
import { type FromHost, type HostBoot, type SocketInfo, type ToHost, toWire } from './wire.js';

/** Starts worker threads as hosts. */
export const threadDriver: HostDriver = {
  kind: 'thread',
  start: (boot, events, settings) => new ThreadHost(boot, events, settings),
};

/** One worker thread, its bridged connections, and the records of this turn for it. */
class ThreadHost implements HostProcess {
  #worker: Worker;
  #events: HostEvents;
  #bridges = new Map<number, Bridge>();
  #records = new RecordWriter();
  #scheduled = false;
  #error: Error | undefined;

  constructor(boot: HostBoot, events: HostEvents, settings: HostPoolSettings) {
    this.#events = events;
    this.#worker = new Worker(BOOTSTRAP, {
      eval: true,
      workerData: { source: HOST_RUNTIME, boot },
      // null: Node's own default, the parent's options.
      ...(settings.hostExecArgv === null ? {} : { execArgv: settings.hostExecArgv }),
    });
    this.#worker.on('message', (message: FromHost) => this.#receive(message));
    this.#worker.on('error', (error: Error) => {
      this.#error = error;
    });
    this.#worker.on('exit', (code: number) => {
      for (const bridge of this.#bridges.values()) bridge.detach();
      this.#bridges.clear();
      events.exit(code, null, this.#error);
    });
  }

  get id(): number {
    return this.#worker.threadId;
  }

  dispatch(id: number, job: HostJob): void {
    const request = job.request;
    if (isDatagram(request)) {
      // An exact copy, transferred: a Buffer may be a view into a larger pool.
      const packet = new Uint8Array(request.packet);
      this.#post({ t: 'start', id, kind: 'datagram', addr: job.clientAddress, packet }, [
        packet.buffer,
      ]);
      return;
    }
    const socket = request as Socket;
    const extra = {
      ...(job.prefix === undefined ? {} : { prefix: job.prefix }),
      ...(job.handler === undefined ? {} : { handler: job.handler }),
      ...(job.data === undefined ? {} : { data: job.data }),
      ...(job.server === undefined ? {} : { server: job.server }),
    };
    if (socket.remoteFamily !== undefined && canMoveSockets()) {
      try {
        this.#worker.postMessage(
          { t: 'start', id, kind: 'socket', addr: job.clientAddress, socket, ...extra },
          [socket as never],
        );
        return;
      } catch {
        // This socket cannot move (it was read already): bridge it.
      }
    }
    this.#post({
      t: 'start',
      id,
      kind: 'bridged',
      addr: job.clientAddress,
      info: socketInfo(socket),
      ...extra,
    });
    this.#bridges.set(id, new Bridge(socket, (type, payload) => this.#record(id, type, payload)));
  }

  release(id: number): void {
    this.#bridges.get(id)?.detach();
    this.#bridges.delete(id);
  }

  send(message: ToHost): void {
    this.#post(message);
  }

  keepAlive(on: boolean): void {
    if (on) this.#worker.ref();
    else this.#worker.unref();
  }

  terminate(): void {
    void this.#worker.terminate();
  }

  #post(message: ToHost, transfer: ArrayBuffer[] = []): void {
    try {
      this.#worker.postMessage(message, transfer);
    } catch {
      // The worker is gone: its 'exit' reports it.
    }
  }

  #receive(message: FromHost): void {
    if (message.t !== 'batch') {
      this.#events.message(message);
      return;
    }
    if (message.b !== null) {
      readRecords(message.b, (id, type, payload) => this.#bridges.get(id)?.receive(type, payload));
    }
    for (const item of message.m) this.#events.message(item);
  }

  /** Adds a record for the worker; this turn's records leave together once it is over. */
  #record(id: number, type: number, payload?: Uint8Array): void {
    this.#records.add(id, type, payload);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      const b = this.#records.take();
      if (b !== null) this.#post({ t: 'records', b }, [b.buffer as ArrayBuffer]);
    });
  }
}

function isDatagram(request: unknown): request is DatagramRequest {
  return (
    typeof request === 'object' && request !== null && 'packet' in request && 'socket' in request
  );
}

/** What a stream handler in a worker may know about its bridged connection. */
function socketInfo(socket: Socket): SocketInfo {
  const info: SocketInfo = {
    remoteAddress: socket.remoteAddress,
    remotePort: socket.remotePort,
    remoteFamily: socket.remoteFamily,
    localAddress: socket.localAddress,
    localPort: socket.localPort,
    localFamily: socket.localFamily,
  };
  const tls = tlsFactsOf(socket);
  if (tls !== undefined) info.tls = tls;
  const header = proxyHeaderOf(socket);
  if (header !== undefined) info.proxyHeader = portableProxyHeader(header);
  return info;
}

/**
 * The server's half of a bridged connection: the peer's bytes go to the
 * worker while it has credit (past it the socket pauses), and the bytes the
 * handler writes go to the socket, acknowledged once the socket took them
 * (so the handler's writes wait while the peer does not read).
 */
class Bridge {
  #socket: Socket;
  #send: (type: number, payload?: Uint8Array) => void;
  /** Bytes sent to the worker and not acknowledged. */
  #inflight = 0;
  #pausedHere = false;
  /** Bytes written for the worker and not acknowledged to it. */
  #unacked = 0;
  #waitingDrain = false;
  #listeners: Array<[string, (...args: any[]) => void]>;

  constructor(socket: Socket, send: (type: number, payload?: Uint8Array) => void) {
    this.#socket = socket;
    this.#send = send;
    this.#listeners = [
      ['data', (chunk: Buffer) => this.#onData(chunk)],
      ['end', () => send(END)],
      ['close', () => this.#onClose()],
      ['drain', () => this.#waitingDrain && this.#ackWrites()],
    ];
    for (const [event, listener] of this.#listeners) socket.on(event, listener);
    if (socket.destroyed) this.#onClose();
    else socket.resume();
  }

  receive(type: number, payload: Buffer): void {
    const socket = this.#socket;
    switch (type) {
      case WRITE:
        this.#write(payload);
        break;
      case ACK:
        this.#inflight -= payloadNumber(payload);
        if (this.#pausedHere && this.#inflight < CREDIT) {
          this.#pausedHere = false;
          socket.resume();
        }
        break;
      case FIN:
        if (!socket.destroyed) socket.end();
        break;
      case DESTROY:
        socket.destroy();
        break;
      case NO_DELAY:
        socket.setNoDelay?.(payload[0] === 1);
        break;
      case KEEP_ALIVE:
        socket.setKeepAlive?.(payload[0] === 1, payloadNumber(payload, 1));
        break;
      default:
        break;
    }
  }

  detach(): void {
    for (const [event, listener] of this.#listeners) this.#socket.off(event, listener);
    if (!this.#socket.destroyed) this.#socket.pause();
  }

  #onData(chunk: Buffer): void {
    this.#inflight += chunk.length;
    this.#send(DATA, chunk);
    if (this.#inflight >= CREDIT && !this.#pausedHere) {
      this.#pausedHere = true;
      this.#socket.pause();
    }
  }

  #onClose(): void {
    const error = this.#socket.errored;
    this.#send(CLOSE, error ? Buffer.from(JSON.stringify(toWire(error))) : undefined);
  }

  #write(chunk: Buffer): void {
    const socket = this.#socket;
    this.#unacked += chunk.length;
    if (socket.destroyed || socket.writableEnded) {
      this.#ackWrites();
      return;
    }
    if (!socket.write(chunk)) this.#waitingDrain = true;
    else if (!this.#waitingDrain && this.#unacked >= ACK_EVERY) this.#ackWrites();
  }

  #ackWrites(): void {
    this.#waitingDrain = false;
    if (this.#unacked === 0) return;
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, this.#unacked, true);
    this.#unacked = 0;
    this.#send(ACK, payload);
  }
}
