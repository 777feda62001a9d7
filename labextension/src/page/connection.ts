// One session's WebSocket: applies frames in `seq` order, acknowledges them, and
// resumes the session with `?last_seq=N` when the socket drops.

import {
  BATCH_ARGUMENT,
  CLOSE_APP_CHANGED,
  CLOSE_BAD_TOKEN,
  CLOSE_NORMAL,
  CLOSE_SERVER_RESTART,
  CLOSE_SESSION_GONE,
  LAST_SEQ_ARGUMENT,
  PAGE_STATE_ARGUMENT,
  PROTOCOL_VERSION,
  STREAM_ARGUMENT,
  SUBPROTOCOL,
  decodeFrames,
  encodeFrame,
  isRefusal,
} from './protocol';
import type { Buffer, ClientMessage, Frame, ServerMessage } from './protocol';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export interface ConnectionHandlers {
  message(message: ServerMessage, buffers: DataView[]): void;
  state(state: ConnectionState, reason?: string): void;
  /** The socket is gone: answers to messages already sent may never come. */
  lost(): void;
  /**
   * The session the page showed is gone and this connection brings a fresh one
   * (its server died; another built it again from the token): drop every widget
   * of the old one. Called before the new session's first message. `wasConnected`
   * false: the page showed only the state its HTML carried, and never connected.
   */
  recreated(wasConnected: boolean): void;
  /** The page is about to load again (the app changed): keep what must outlive it. */
  reloading?(): void;
}

const ACK_DELAY_MS = 200;
const FIRST_RETRY_MS = 500;
const LAST_RETRY_MS = 5000;
const MAX_RETRIES = 10;
/**
 * After the server said it is stopping, how long the page waits for a server to
 * answer again (a restart, a deploy), trying every RESTART_RETRY_MS at most.
 */
const RESTART_WAIT_MS = 5 * 60_000;
const RESTART_RETRY_MS = 1000;
/** What the page says while it waits for a stopped server. */
export const WAITING_FOR_SERVER = 'the server is restarting: waiting for it…';

export class Connection {
  state: ConnectionState = 'connecting';
  sessionId: string | null = null;
  /** The last `seq` applied; a resumed connection asks only for what follows it. */
  lastSeq = 0;
  /** The hello's name for the stream being applied; a resumed connection names it. */
  stream: string | null = null;

  private socket: WebSocket | null = null;
  private everConnected = false;
  /** Whether the page shows the state its HTML carried and resumes after it (see resumeAfter). */
  private fromPageState = false;
  private retries = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private ackedSeq = 0;
  private nextIdNumber = 0;
  /** Messages sent while no socket is open go out, in order, after the next hello. */
  private outbox: (string | ArrayBuffer)[] = [];
  private stopped = false;
  /** When the server said it is stopping; null unless the page is waiting for it. */
  private restartSince: number | null = null;

  constructor(
    private readonly url: URL,
    private readonly token: string,
    private readonly handlers: ConnectionHandlers,
  ) {}

  /** An id unique for the page's lifetime, so answers never match a message of an older socket. */
  nextId(): string {
    this.nextIdNumber += 1;
    return `m${this.nextIdNumber}`;
  }

  /**
   * The page already shows the session's state at `seq` of `stream` (carried by
   * its HTML): the first connection resumes the stream after it, as a reconnection does.
   */
  resumeAfter(seq: number, stream: string): void {
    this.lastSeq = seq;
    this.stream = stream;
    this.fromPageState = true;
  }

  send(message: ClientMessage, buffers?: readonly Buffer[]): void {
    const frame = encodeFrame(message, buffers);
    if (this.state === 'connected' && this.socket?.readyState === WebSocket.OPEN) {
      this.socket.send(frame);
    } else if (!this.stopped) {
      this.outbox.push(frame);
    }
  }

  open(): void {
    this.stopped = false;
    const url = new URL(this.url);
    // What one message of the page causes comes back in one frame.
    url.searchParams.set(BATCH_ARGUMENT, '1');
    if (this.everConnected || this.retries > 0 || this.fromPageState) {
      url.searchParams.set(LAST_SEQ_ARGUMENT, String(this.lastSeq));
      if (this.stream !== null) {
        url.searchParams.set(STREAM_ARGUMENT, this.stream);
      }
      if (this.fromPageState && !this.everConnected) {
        url.searchParams.set(PAGE_STATE_ARGUMENT, '1');
      }
    }
    const socket = new WebSocket(url, [SUBPROTOCOL, this.token]);
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (event: MessageEvent<string | ArrayBuffer>) => this.receive(event.data);
    socket.onclose = (event) => {
      if (this.socket === socket) {
        this.socket = null;
        this.closed(event.code, event.reason);
      }
    };
    this.socket = socket;
  }

  /** Whether the socket has opened and its hello is on its way (the page's next task may bring it). */
  get helloDue(): boolean {
    return this.state !== 'connected' && this.socket?.readyState === WebSocket.OPEN;
  }

  /** Closes the socket on purpose: no reconnecting, no "disconnected" state. */
  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    const socket = this.socket;
    this.socket = null;
    socket?.close(CLOSE_NORMAL);
  }

  private receive(data: string | ArrayBuffer): void {
    let frames;
    try {
      frames = decodeFrames(data);
    } catch (error) {
      console.error('jupyter_bridge: dropped a frame that could not be decoded', error);
      return;
    }
    for (const frame of frames) {
      this.apply(frame);
    }
  }

  private apply(frame: Frame): void {
    const { message, buffers } = frame;
    // Messages outside the session's stream (hello, the "session is gone" error)
    // carry seq 0 and are never replayed: apply them without moving lastSeq.
    const seq = message.seq ?? 0;
    if (seq > 0) {
      if (seq <= this.lastSeq) {
        return; // replayed by a resumed connection and already applied
      }
      this.lastSeq = seq;
      this.scheduleAck();
    }
    if (message.type === 'hello') {
      if (message.protocol !== PROTOCOL_VERSION) {
        console.error(`jupyter_bridge: the server speaks protocol ${message.protocol}, not ${PROTOCOL_VERSION}`);
      }
      this.greeted(message.session_id, message.last_seq ?? 0, message.stream ?? null, message.recreated === true);
    }
    try {
      this.handlers.message(message, buffers);
    } catch (error) {
      // One bad message must not stop the stream; the page shows what it can.
      console.error(`jupyter_bridge: failed to apply a ${message.type} message`, error);
    }
  }

  private greeted(sessionId: string, streamStart: number, stream: string | null, recreated: boolean): void {
    this.sessionId = sessionId;
    this.stream = stream;
    if (recreated) {
      // Another copy of the session, numbered from its own start: what the page
      // applied, and what it meant to send to the old widgets, are of the old one.
      this.lastSeq = streamStart;
      this.ackedSeq = 0;
      this.outbox = [];
      this.handlers.recreated(this.everConnected);
    }
    // A new page of a session that already ran gets a snapshot (seq 0 messages)
    // and then the stream from the session's current position.
    if (!this.everConnected && streamStart > this.lastSeq) {
      this.lastSeq = streamStart;
    }
    this.everConnected = true;
    this.retries = 0;
    this.restartSince = null;
    this.setState('connected');
    const waiting = this.outbox;
    this.outbox = [];
    for (const frame of waiting) {
      this.socket?.send(frame);
    }
    // Frames applied while the last socket was closing are acknowledged to this one.
    if (this.lastSeq > this.ackedSeq) {
      this.scheduleAck();
    }
  }

  private scheduleAck(): void {
    if (this.ackTimer !== undefined) {
      return;
    }
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      if (this.lastSeq > this.ackedSeq && this.socket?.readyState === WebSocket.OPEN) {
        this.ackedSeq = this.lastSeq;
        this.socket.send(encodeFrame({ type: 'ack', seq: this.lastSeq }));
      }
    }, ACK_DELAY_MS);
  }

  private closed(code: number, reason = ''): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    this.handlers.lost();
    if (this.stopped) {
      return;
    }
    if (code === CLOSE_SERVER_RESTART && this.restartSince === null) {
      // Not the session's end: the server is going away and will (or another
      // behind its address will) answer again. Wait for it, then take a fresh
      // session there (the connection names its stream), as after a crash.
      this.restartSince = Date.now();
      this.retries = 0;
    }
    if (this.restartSince !== null && !isRefusal(code)) {
      if (Date.now() - this.restartSince > RESTART_WAIT_MS) {
        this.restartSince = null;
        this.stop('connection lost');
        return;
      }
      const delay = Math.min(FIRST_RETRY_MS / 2 * 2 ** this.retries, RESTART_RETRY_MS);
      this.retries += 1;
      this.setState('reconnecting', WAITING_FOR_SERVER);
      this.retryTimer = setTimeout(() => this.open(), delay);
    } else if (code === CLOSE_APP_CHANGED) {
      this.setState('reconnecting', 'the app changed: reloading');
      this.handlers.reloading?.();
      window.location.reload();
    } else if (isRefusal(code)) {
      this.stop(refusalReason(code, reason));
    } else if (this.retries >= MAX_RETRIES) {
      this.stop('connection lost');
    } else {
      const delay = Math.min(FIRST_RETRY_MS * 2 ** this.retries, LAST_RETRY_MS);
      this.retries += 1;
      // Before the first hello the page shows nothing yet: it is still connecting.
      this.setState(this.everConnected ? 'reconnecting' : 'connecting');
      this.retryTimer = setTimeout(() => this.open(), delay);
    }
  }

  private stop(reason: string): void {
    this.stopped = true;
    this.outbox = [];
    this.setState('disconnected', reason);
  }

  private setState(state: ConnectionState, reason?: string): void {
    this.state = state;
    this.handlers.state(state, reason);
  }
}

/**
 * Why the server refused the page's session, as status.ts names it: the session
 * ended; or, the page being away longer than its token lasts, it could not be
 * made again (the server's reason says the token expired).
 */
function refusalReason(code: number, reason: string): string {
  if (code === CLOSE_SESSION_GONE) {
    return 'session ended';
  }
  if (code === CLOSE_BAD_TOKEN && reason.includes('expired')) {
    return 'session expired';
  }
  return 'disconnected';
}

/**
 * Connection handlers that keep what the socket brings until the page's code
 * has loaded (`attach`), then pass it on in order. A call may hold the rest
 * (`holdUntil`), whether it arrived before the code loaded or after.
 */
export class EarlyHandlers implements ConnectionHandlers {
  private target: ConnectionHandlers | null = null;
  private calls: ((handlers: ConnectionHandlers) => void)[] = [];
  private passing = false;

  attach(target: ConnectionHandlers): void {
    this.target = target;
    this.pass();
  }

  /**
   * Keeps what the socket brings from now until `until` settles, then passes it on
   * in order; what had arrived already and is not passed on yet waits too.
   */
  holdUntil(until: Promise<unknown>): void {
    const target = this.target;
    if (target === null) {
      return;
    }
    this.target = null;
    void until.finally(() => this.attach(target));
  }

  /**
   * Passes on the calls kept, one at a time: each may hold those after it, as when
   * a fresh copy of the session arrived in one batch with the page's code still loading.
   */
  private pass(): void {
    if (this.passing) {
      return; // a call made while passing goes out in its turn
    }
    this.passing = true;
    try {
      while (this.target !== null && this.calls.length > 0) {
        const call = this.calls.shift()!;
        try {
          call(this.target);
        } catch (error) {
          console.error('jupyter_bridge: failed to apply what the socket brought', error);
        }
      }
    } finally {
      this.passing = false;
    }
  }

  private call(call: (handlers: ConnectionHandlers) => void): void {
    this.calls.push(call);
    this.pass();
  }

  message(message: ServerMessage, buffers: DataView[]): void {
    this.call((handlers) => {
      try {
        handlers.message(message, buffers);
      } catch (error) {
        // One bad message must not stop the stream; the page shows what it can.
        console.error(`jupyter_bridge: failed to apply a ${message.type} message`, error);
      }
    });
  }

  state(state: ConnectionState, reason?: string): void {
    this.call((handlers) => handlers.state(state, reason));
  }

  lost(): void {
    this.call((handlers) => handlers.lost());
  }

  recreated(wasConnected: boolean): void {
    this.call((handlers) => handlers.recreated(wasConnected));
  }

  reloading(): void {
    this.call((handlers) => handlers.reloading?.());
  }
}
