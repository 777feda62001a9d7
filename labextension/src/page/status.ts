// What the page tells its user about the connection: a small pill that is
// hidden while all is well, and a panel for the server's error messages.

import type { ConnectionState } from './connection';
import type { ErrorMessage } from './protocol';

const MAX_ERRORS = 5;

export class Status {
  private readonly pill = document.createElement('div');
  private readonly errors = document.createElement('div');

  constructor(parent: HTMLElement) {
    this.pill.className = 'jb-status';
    this.pill.setAttribute('role', 'status');
    this.errors.className = 'jb-errors';
    this.errors.setAttribute('role', 'alert');
    parent.append(this.pill, this.errors);
    this.show('connecting');
  }

  /** `reason` says why a disconnected page stopped trying ("connection lost", "session ended"). */
  show(state: ConnectionState, reason = 'disconnected'): void {
    document.documentElement.dataset.jbState = state;
    this.pill.dataset.state = state;
    this.pill.replaceChildren();
    if (state === 'connecting') {
      this.pill.textContent = 'connecting…';
    } else if (state === 'reconnecting') {
      this.pill.textContent = 'reconnecting…';
    } else if (state === 'disconnected') {
      const reload = document.createElement('button');
      reload.type = 'button';
      reload.textContent = 'reload';
      reload.onclick = () => location.reload();
      this.pill.append(`${reason} — `, reload);
    }
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
