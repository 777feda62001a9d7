// The browser side of docs/protocol.md: message shapes, frame encoding, close codes
// and query arguments. The Python side is jupyter_bridge/protocol.py;
// tests/test_protocol.py reads this file and checks the two agree.

export const PROTOCOL_VERSION = 1;
export const SUBPROTOCOL = 'jupyter-bridge.v1';

/** Close codes (docs/protocol.md). 4xxx is a refusal that retrying cannot mend. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_BAD_TOKEN = 4001;
/** The app's files changed (development mode): load the page again for a fresh session. */
export const CLOSE_APP_CHANGED = 4205;
export const CLOSE_SESSION_GONE = 4404;
export const CLOSE_APP_FAILED = 4500;
/** The server is stopping (a restart, a deploy): wait for a server to answer again, then reconnect. */
export const CLOSE_SERVER_RESTART = 1012;
export const isRefusal = (code: number): boolean => code >= 4000 && code < 5000;

/** The socket URL's query argument that resumes the stream after a `seq`. */
export const LAST_SEQ_ARGUMENT = 'last_seq';
/** Beside it, the `stream` of the last hello: the server may then send a fresh session in its place. */
export const STREAM_ARGUMENT = 'stream';
/** "1": this client reads a text frame holding a JSON array of messages (a batch), in order. */
export const BATCH_ARGUMENT = 'batch';
/** Beside them, on the first connection of a page showing the state its HTML carried: a fresh state if it cannot resume. */
export const PAGE_STATE_ARGUMENT = 'page_state';

/** A widget state refers to another widget as this prefix and its model id. */
export const MODEL_REF_PREFIX = 'IPY_MODEL_';
/** The most changes one `restore` message may carry, and the most steps of a place. */
export const MAX_RESTORE_CHANGES = 1000;
export const MAX_PLACE_LENGTH = 64;

export type JSONObject = { [key: string]: unknown };

/** `seq` orders the session's stream; 0 marks a message outside it (hello). */
interface Sequenced {
  seq?: number;
}

export interface Hello extends Sequenced {
  type: 'hello';
  protocol: number;
  session_id: string;
  server: string;
  /** Where the stream starts for this connection: frames above it follow. */
  last_seq?: number;
  /** Names this copy of the session's stream; a reconnecting page sends it back. */
  stream?: string;
  /**
   * The copy of the session the page showed is gone (its server died): this is
   * a fresh one, built again from the page's token. Drop every widget shown.
   */
  recreated?: boolean;
}

export interface Doc extends Sequenced {
  type: 'doc';
  title: string;
  roots: string[];
  /** Root model id -> the name it was added with (for template placeholders). */
  names?: Record<string, string>;
  /** false: the app starts every session afresh; the page keeps none of its user's changes. */
  restore?: boolean;
  /** Widgets (and what is inside them) whose changes the page must not keep. */
  no_restore?: string[];
}

export interface CommOpen extends Sequenced {
  type: 'comm_open';
  comm_id: string;
  target_name: string;
  target_module?: string | null;
  data: JSONObject;
  metadata: JSONObject;
}

export interface CommMsg extends Sequenced {
  type: 'comm_msg';
  comm_id: string;
  data: JSONObject;
  metadata: JSONObject;
  /**
   * The `id` of the client message whose handling produced this one, if any: the
   * page matches an `echo_update` to the change it sent by it (comm.ts).
   */
  parent?: string;
}

export interface CommClose extends Sequenced {
  type: 'comm_close';
  comm_id: string;
  data: JSONObject;
  metadata: JSONObject;
}

export interface Idle extends Sequenced {
  type: 'idle';
  parent: string;
}

export interface Pong extends Sequenced {
  type: 'pong';
  parent: string;
}

export interface ErrorMessage extends Sequenced {
  type: 'error';
  message: string;
  detail?: string;
  parent?: string;
  /** `frame`, `app`, or `session` (the session is gone). */
  where: string;
}

/** The session's callbacks have run 300 ms without a pause (true), or are done (false). */
export interface Busy extends Sequenced {
  type: 'busy';
  busy: boolean;
}

/** The answer to `restore`: how many changes were applied, no longer fit the app, or were not to be restored. */
export interface Restored extends Sequenced {
  type: 'restored';
  parent: string;
  applied: number;
  skipped: number;
  withheld: number;
  /** Why none was applied: the app starts every session afresh. */
  refused?: string;
}

/** One change a page made, named by its widget's place: a root's index, then the keys leading to it. */
export interface RestoreChange {
  place: (string | number)[];
  /** The widget's `_model_module` and `_model_name`, which the widget at the place must have. */
  model: [string, string];
  state: JSONObject;
  buffer_paths: (string | number)[][];
}

export type ServerMessage = Hello | Doc | CommOpen | CommMsg | CommClose | Idle | Pong | ErrorMessage | Busy | Restored;

export type ClientMessage =
  | { type: 'comm_open'; id: string; comm_id: string; target_name: string; data: unknown; metadata?: JSONObject }
  | { type: 'comm_msg'; id: string; comm_id: string; data: unknown; metadata?: JSONObject }
  | { type: 'comm_close'; id: string; comm_id: string }
  | { type: 'ping'; id: string }
  | { type: 'restore'; id: string; changes: RestoreChange[] }
  | { type: 'ack'; seq: number };

export type Buffer = ArrayBuffer | ArrayBufferView;

export interface Frame {
  message: ServerMessage;
  /** Each buffer owns its ArrayBuffer: widget libraries build typed arrays over `value.buffer`. */
  buffers: DataView[];
}

export class ProtocolError extends Error {}

const HEADER_WORD = 4;

export function decodeFrame(data: string | ArrayBuffer): Frame {
  if (typeof data === 'string') {
    return { message: parseMessage(data), buffers: [] };
  }
  const view = new DataView(data);
  const size = data.byteLength;
  const count = size >= HEADER_WORD ? view.getUint32(0) : 0;
  const headerSize = HEADER_WORD * (1 + count);
  if (count < 1 || headerSize > size) {
    throw new ProtocolError(`binary frame of ${size} bytes has a bad part count (${count})`);
  }
  const offsets: number[] = [];
  for (let i = 0; i < count; i++) {
    offsets.push(view.getUint32(HEADER_WORD * (1 + i)));
  }
  offsets.push(size);
  for (let i = 0; i < count; i++) {
    if (offsets[i] < headerSize || offsets[i] > offsets[i + 1]) {
      throw new ProtocolError(`binary frame of ${size} bytes has bad part offsets`);
    }
  }
  const text = new TextDecoder().decode(new Uint8Array(data, offsets[0], offsets[1] - offsets[0]));
  const buffers: DataView[] = [];
  for (let i = 1; i < count; i++) {
    buffers.push(new DataView(data.slice(offsets[i], offsets[i + 1])));
  }
  return { message: parseMessage(text), buffers };
}

/** A frame's messages, in order: a text frame may hold a batch of them (BATCH_ARGUMENT). */
export function decodeFrames(data: string | ArrayBuffer): Frame[] {
  if (typeof data === 'string' && data.startsWith('[')) {
    const batch: unknown = JSON.parse(data);
    if (!Array.isArray(batch)) {
      throw new ProtocolError('a batch frame is not a list of messages');
    }
    return batch.map((message: unknown) => ({ message: checkMessage(message), buffers: [] }));
  }
  return [decodeFrame(data)];
}

function parseMessage(text: string): ServerMessage {
  return checkMessage(JSON.parse(text));
}

function checkMessage(message: unknown): ServerMessage {
  if (typeof message !== 'object' || message === null || typeof (message as JSONObject).type !== 'string') {
    throw new ProtocolError('frame is not a message object with a type');
  }
  // Fields are trusted past this point: the server is the one that made the page.
  return message as ServerMessage;
}

/** A text frame, or a binary frame when there are buffers. */
export function encodeFrame(message: ClientMessage, buffers: readonly Buffer[] = []): string | ArrayBuffer {
  const text = JSON.stringify(message);
  if (buffers.length === 0) {
    return text;
  }
  const parts = [new TextEncoder().encode(text), ...buffers.map(asBytes)];
  const headerSize = HEADER_WORD * (1 + parts.length);
  const size = parts.reduce((total, part) => total + part.byteLength, headerSize);
  const frame = new ArrayBuffer(size);
  const view = new DataView(frame);
  const bytes = new Uint8Array(frame);
  view.setUint32(0, parts.length);
  let offset = headerSize;
  parts.forEach((part, i) => {
    view.setUint32(HEADER_WORD * (1 + i), offset);
    bytes.set(part, offset);
    offset += part.byteLength;
  });
  return frame;
}

function asBytes(buffer: Buffer): Uint8Array {
  return ArrayBuffer.isView(buffer)
    ? new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
    : new Uint8Array(buffer);
}
