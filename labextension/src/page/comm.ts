// The comm objects the widget manager talks to (its IClassicComm interface),
// standing in for a kernel's comms: they route over the session's connection.

import type { ICallbacks, IClassicComm } from '@jupyter-widgets/base';
import type { Buffer, ClientMessage, CommClose, CommMsg, JSONObject } from './protocol';

/** The kernel-style message a comm callback receives. */
interface CommEvent {
  content: { comm_id: string; data: JSONObject };
  metadata: JSONObject;
  buffers: DataView[];
  parent_header: { msg_id?: string };
}

interface Sender {
  nextId(): string;
  send(message: ClientMessage, buffers?: readonly Buffer[]): void;
}

/** A model's handler; a state update's returns the promise of its being applied. */
type Callback = (event: CommEvent) => unknown;

export class Comm implements IClassicComm {
  private onMessage: Callback | null = null;
  private onClose: Callback | null = null;
  /** Events not delivered yet, in arrival order. */
  private queue: { close: boolean; event: CommEvent }[] = [];
  /** The last state update handed to the model, until it is applied (it deserializes asynchronously). */
  private applying: Promise<unknown> | null = null;
  /** Whether on_msg is running: the model's initialize has not returned yet. */
  private attaching = false;

  constructor(
    readonly comm_id: string,
    readonly target_name: string,
    /** null for a comm that stays in the page (a static page has no server to open it on). */
    private readonly comms: Comms | null,
  ) {}

  open(): string {
    return '';
  }

  send(data: unknown, callbacks?: ICallbacks, metadata?: JSONObject, buffers?: Buffer[]): string {
    return this.comms?.send(this.comm_id, data, callbacks, metadata, buffers) ?? '';
  }

  close(): string {
    return this.comms?.close(this.comm_id) ?? '';
  }

  // A model attaches its comm handler in WidgetModel.initialize, and a
  // subclass its own "msg:custom" listener only after that returns: a custom
  // message queued meanwhile (and all after it) is delivered once initialize
  // is done, as a kernel's message would arrive (ipycanvas's first drawing
  // commands were lost). Updates before it are handed over at once.
  on_msg(callback: Callback): void {
    this.onMessage = callback;
    this.attaching = true;
    try {
      this.flush();
    } finally {
      this.attaching = false;
    }
    if (this.queue.length > 0) {
      queueMicrotask(() => this.flush());
    }
  }

  on_close(callback: Callback): void {
    this.onClose = callback;
    this.flush();
  }

  deliver(close: boolean, event: CommEvent): void {
    this.queue.push({ close, event });
    this.flush();
  }

  private flush(): void {
    // The model attaches on_close before on_msg: hold everything until the
    // first queued event has its callback, so order is kept.
    while (this.queue.length > 0) {
      const { close, event } = this.queue[0];
      const callback = close ? this.onClose : this.onMessage;
      if (callback === null) {
        return;
      }
      // A model applies a state update asynchronously but handles a custom
      // message at once: as from a kernel, a custom message waits until the
      // updates before it are applied (ipympl sizes its canvas on a "resize"
      // message from the _size that the update just before it sets). Updates
      // are handed over at once, so a view made meanwhile still comes after them.
      if (this.attaching && !close && isCustom(event)) {
        return; // on_msg delivers it in a microtask
      }
      if (this.applying !== null && !close && isCustom(event)) {
        const waited = this.applying;
        void waited.then(
          () => this.resume(waited),
          () => this.resume(waited),
        );
        return;
      }
      this.queue.shift();
      // A widget that fails on a message is logged and gets its next messages,
      // as from a kernel's connection in JupyterLab and Voila: its error is not
      // the page's, and a throw here would leave the rest of its queue undelivered.
      let applied: unknown;
      try {
        applied = callback(event);
      } catch (error) {
        console.error(`jupyter_bridge: the widget of comm ${this.comm_id} failed on a message`, error);
        continue;
      }
      if (applied instanceof Promise) {
        this.applying = applied;
        applied.catch((error: unknown) => {
          console.error(`jupyter_bridge: the widget of comm ${this.comm_id} failed on a message`, error);
        });
      }
    }
  }

  private resume(waited: Promise<unknown>): void {
    if (this.applying === waited) {
      this.applying = null;
      this.flush();
    }
  }
}

function isCustom(event: CommEvent): boolean {
  return (event.content.data as { method?: unknown }).method === 'custom';
}

/** The session's comms, and the callbacks waiting for the server's `idle`. */
export class Comms {
  private comms = new Map<string, Comm>();
  private waiting = new Map<string, ICallbacks>();
  /** Told of every state update a model sends (the page keeps its user's changes: restore.ts). */
  onUpdate: ((commId: string, state: JSONObject, bufferPaths: (string | number)[][], buffers: Buffer[]) => void) | null =
    null;

  constructor(private readonly connection: Sender) {}

  opened(commId: string, targetName: string): Comm {
    const comm = new Comm(commId, targetName, this);
    this.comms.set(commId, comm);
    return comm;
  }

  /** A model the page makes itself (pythreejs does): the server makes its Python widget. */
  openedByPage(commId: string, targetName: string, data: JSONObject, metadata?: JSONObject, buffers?: Buffer[]): Comm {
    const comm = this.opened(commId, targetName);
    const id = this.connection.nextId();
    this.connection.send({ type: 'comm_open', id, comm_id: commId, target_name: targetName, data, metadata }, buffers);
    return comm;
  }

  received(message: CommMsg, buffers: DataView[]): void {
    this.comms.get(message.comm_id)?.deliver(false, toEvent(message, buffers));
  }

  closedByServer(message: CommClose): void {
    const comm = this.comms.get(message.comm_id);
    this.comms.delete(message.comm_id);
    comm?.deliver(true, toEvent(message, []));
  }

  /** The server has handled message `parent`: let the model send its next update. */
  idle(parent: string): void {
    const callbacks = this.waiting.get(parent);
    this.waiting.delete(parent);
    callbacks?.iopub?.status?.({
      content: { execution_state: 'idle' },
      parent_header: { msg_id: parent },
    } as never);
  }

  /** The socket dropped: no `idle` may come for what is in flight, so do not wait for it. */
  releaseAll(): void {
    const parents = [...this.waiting.keys()];
    parents.forEach((parent) => this.idle(parent));
  }

  /** The session is gone: its comms are not the server's any more, and nothing goes out for them. */
  forgetAll(): void {
    this.releaseAll();
    this.comms.clear();
  }

  send(commId: string, data: unknown, callbacks?: ICallbacks, metadata?: JSONObject, buffers?: Buffer[]): string {
    if (!this.comms.has(commId)) {
      return ''; // a model of a session that is gone
    }
    const update = data as { method?: unknown; state?: unknown; buffer_paths?: unknown };
    if (update.method === 'update' && typeof update.state === 'object' && update.state !== null) {
      const paths = Array.isArray(update.buffer_paths) ? (update.buffer_paths as (string | number)[][]) : [];
      this.onUpdate?.(commId, update.state as JSONObject, paths, buffers ?? []);
    }
    const id = this.connection.nextId();
    if (callbacks?.iopub?.status) {
      this.waiting.set(id, callbacks);
    }
    this.connection.send({ type: 'comm_msg', id, comm_id: commId, data, metadata }, buffers);
    return id;
  }

  close(commId: string): string {
    if (!this.comms.delete(commId)) {
      return '';
    }
    const id = this.connection.nextId();
    this.connection.send({ type: 'comm_close', id, comm_id: commId });
    return id;
  }
}

function toEvent(message: CommMsg | CommClose, buffers: DataView[]): CommEvent {
  return {
    content: { comm_id: message.comm_id, data: message.data ?? {} },
    metadata: message.metadata ?? {},
    buffers,
    // ipywidgets matches an echo_update to the update that caused it by this id.
    // Without one it drops echoes of values it sent itself, which is harmless
    // (a value Python changes comes back as a plain update) and avoids a
    // dragged slider jumping back to an older value.
    parent_header: 'parent' in message && message.parent ? { msg_id: message.parent } : {},
  };
}
