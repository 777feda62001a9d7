// What the page tells its user: the connection state (in the page's header, or
// a small pill while something is wrong when the page has no frame), a busy
// mark while the session works on something, and a panel of the app's errors.

import type { ConnectionState } from './connection';
import type { Buffer, ClientMessage, ErrorMessage, Restored } from './protocol';

const MAX_ERRORS = 5;
/** An answer that takes longer than this shows the busy mark (as the server's own `busy`). */
const BUSY_AFTER_MS = 300;

/** Why a page stopped trying, as the user reads it. */
const REASONS: Record<string, string> = {
  'connection lost': 'the server is gone',
  'session expired': 'the session ended: this page was cut off longer than a session waits',
};

/** Said once a page's session was built again elsewhere, until the user dismisses it. */
export const RECREATED_NOTICE = 'Reconnected — the server restarted this app; earlier changes are gone';
/** Said meanwhile when the page has changes to bring back (restored() says how it went). */
export const RESTORING_NOTICE = 'Reconnected — the server restarted this app; restoring your changes…';

/** What the page's comms send through: a connection's `send` and `nextId`. */
export interface Sender {
  send(message: ClientMessage, buffers?: readonly Buffer[]): void;
  nextId(): string;
}

export class Status {
  private readonly pill: HTMLElement;
  private readonly mark: HTMLElement;
  private readonly heading: HTMLElement | null;
  private readonly errors = document.createElement('div');
  private serverBusy = false;
  /** Message ids sent and not answered yet -> their timer; `late` counts those past BUSY_AFTER_MS. */
  private waiting = new Map<string, ReturnType<typeof setTimeout> | null>();
  private late = 0;
  private state: ConnectionState = 'connecting';
  private reason = 'disconnected';
  /** What the user must know about the session they now have; shown while connected. */
  private notice: string | null = null;
  /** Whether the restore under way brings the changes of the page before a reload. */
  private afterReload = false;

  constructor(parent: HTMLElement) {
    const header = document.querySelector<HTMLElement>('.jb-header');
    this.heading = header?.querySelector<HTMLElement>('.jb-header-title') ?? null;
    this.pill = header?.querySelector<HTMLElement>('.jb-status') ?? this.floating('jb-status', parent);
    this.mark = header?.querySelector<HTMLElement>('.jb-busy') ?? this.floating('jb-busy', parent);
    this.pill.setAttribute('role', 'status');
    this.errors.className = 'jb-errors';
    this.errors.setAttribute('role', 'alert');
    parent.append(this.errors);
    this.show('connecting');
  }

  private floating(className: string, parent: HTMLElement): HTMLElement {
    const element = document.createElement('div');
    element.className = `${className} jb-floating`;
    parent.append(element);
    return element;
  }

  /** `reason` says why a disconnected page stopped trying ("connection lost", "session ended"). */
  show(state: ConnectionState, reason = 'disconnected'): void {
    this.state = state;
    this.reason = reason;
    document.documentElement.dataset.jbState = state;
    this.pill.dataset.state = state;
    this.pill.replaceChildren();
    delete this.pill.dataset.notice;
    if (state === 'connecting') {
      this.pill.textContent = 'connecting…';
    } else if (state === 'connected' && this.notice !== null) {
      const dismiss = document.createElement('button');
      dismiss.type = 'button';
      dismiss.className = 'jb-notice-dismiss';
      dismiss.title = 'Dismiss';
      dismiss.setAttribute('aria-label', 'Dismiss');
      dismiss.textContent = '×';
      dismiss.onclick = () => {
        this.notice = null;
        this.show(this.state, this.reason);
      };
      this.pill.dataset.notice = '1';
      this.pill.append(this.notice, dismiss);
    } else if (state === 'connected') {
      this.pill.textContent = 'connected';
    } else if (state === 'reconnecting') {
      this.pill.textContent = reason === 'disconnected' ? 'reconnecting…' : reason;
    } else {
      const reload = document.createElement('button');
      reload.type = 'button';
      reload.textContent = 'reload';
      reload.onclick = () => location.reload();
      this.pill.append(`${REASONS[reason] ?? reason} — `, reload);
      this.forgetWaiting();
      this.busy(false);
    }
  }

  /**
   * The session the page showed is gone and a fresh one replaces it (its server
   * died): the widgets start over, and the user must not think their changes kept.
   */
  recreated(restoring = false): void {
    this.notice = restoring ? RESTORING_NOTICE : RECREATED_NOTICE;
    this.forgetWaiting();
    this.busy(false);
    this.show(this.state, this.reason);
  }

  /** The page was loaded again because the app changed, and brings the changes of the page before. */
  reloaded(): void {
    this.afterReload = true;
  }

  /** The fresh session has taken back the user's changes: say how it went, once. */
  restored(answer: Restored, dropped: number): void {
    const lost = answer.skipped + dropped;
    const what = this.afterReload ? 'The app changed and the page reloaded' : 'Reconnected — the server restarted this app';
    this.afterReload = false;
    if (answer.refused !== undefined) {
      this.notice = `${what}; earlier changes are gone`;
    } else if (lost > 0) {
      const changes = lost === 1 ? 'change' : 'changes';
      this.notice = `${what}; ${lost} of your ${changes} could not be restored`;
    } else {
      this.notice = `${what}; your changes are back`;
    }
    this.show(this.state, this.reason);
  }

  title(text: string): void {
    if (this.heading !== null) {
      const { jbUntitled, jbAppName } = this.heading.dataset;
      this.heading.textContent = text === jbUntitled && jbAppName ? jbAppName : text;
    }
  }

  /** The server says its callbacks are (still) running, or have finished. */
  busy(on: boolean): void {
    this.serverBusy = on;
    this.updateMark();
  }

  /**
   * `sender` as the comms' sender: what it sends is timed until the server's
   * `idle` for it (see answered()). A callback that blocks the server's loop
   * cannot say it is busy; its late answer shows the mark instead.
   */
  timing(sender: Sender): Sender {
    return {
      nextId: () => sender.nextId(),
      send: (message, buffers) => {
        // A page that stopped trying sends nothing: nothing will answer.
        if ('id' in message && message.type !== 'ping' && this.state !== 'disconnected') {
          const id = message.id;
          this.waiting.set(
            id,
            setTimeout(() => {
              if (this.waiting.has(id)) {
                this.waiting.set(id, null);
                this.late += 1;
                this.updateMark();
              }
            }, BUSY_AFTER_MS),
          );
        }
        sender.send(message, buffers);
      },
    };
  }

  answered(parent: string): void {
    if (!this.waiting.has(parent)) {
      return;
    }
    const timer = this.waiting.get(parent);
    this.waiting.delete(parent);
    if (timer === null) {
      this.late -= 1;
      this.updateMark();
    } else {
      clearTimeout(timer);
    }
  }

  /** The socket dropped: no answer may come for what was in flight. */
  forgetWaiting(): void {
    for (const timer of this.waiting.values()) {
      if (timer !== null) {
        clearTimeout(timer);
      }
    }
    this.waiting.clear();
    this.late = 0;
    this.updateMark();
  }

  private updateMark(): void {
    const busy = this.serverBusy || this.late > 0;
    this.mark.dataset.busy = busy ? '1' : '0';
    document.documentElement.dataset.jbBusy = busy ? '1' : '0';
  }

  error(message: ErrorMessage): void {
    const panel = document.createElement('div');
    panel.className = 'jb-error';
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'jb-error-close';
    close.title = 'Dismiss';
    close.setAttribute('aria-label', 'Dismiss');
    close.textContent = '×';
    close.onclick = () => panel.remove();
    const text = document.createElement('p');
    text.textContent = message.message;
    panel.append(close, text);
    if (message.detail) {
      const detail = document.createElement('pre');
      detail.textContent = message.detail;
      panel.append(detail);
    }
    this.errors.append(panel);
    // A loop of failing callbacks must not bury the page under panels.
    while (this.errors.childElementCount > MAX_ERRORS) {
      this.errors.firstElementChild!.remove();
    }
  }
}
