// The main-area panel that shows an app's page: an iframe that starts a fresh
// session each time it loads.

import { MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IFrame, ToolbarButton, launchIcon, refreshIcon } from '@jupyterlab/ui-components';

/** After a save, wait this long for more saves (a directory app saved file by file) before reloading. */
const RELOAD_DELAY_MS = 150;

/** The app's page in an iframe. Loading the page is what creates a session. */
export class AppFrame extends IFrame {
  constructor(path: string, url: string) {
    super({ referrerPolicy: 'same-origin' });
    // No sandbox: the page is the user's own app served by this same Jupyter
    // server, as trusted as JupyterLab itself, and it needs scripts and
    // same-origin access (cookies log its page and WebSocket in). A sandbox
    // allowing both would be no sandbox, and Chromium warns about it.
    this.node.querySelector('iframe')?.removeAttribute('sandbox');
    this.addClass('jp-BridgeApp-frame');
    this._path = path;
    this.url = url;
    this._url = url;
  }

  /** The app's path relative to Jupyter's root. */
  get path(): string {
    return this._path;
  }

  /** How many times the page was loaded again (tests and debugging read it from the DOM). */
  get reloads(): number {
    return this._reloads;
  }

  /** Point the panel at another path (the app was renamed) and load it. */
  moveTo(path: string, url: string): void {
    this._path = path;
    this._url = url;
    this.reload();
  }

  /** Load the page again: the old session ends (its socket closes) and a fresh one starts. */
  reload(): void {
    window.clearTimeout(this._timer);
    this._timer = undefined;
    this._reloads += 1;
    this.node.dataset.jbReloads = String(this._reloads);
    // Setting src, even to the same URL, navigates the frame again.
    this.url = this._url;
  }

  /** Reload soon, once however many saves arrive together. */
  scheduleReload(): void {
    window.clearTimeout(this._timer);
    this._timer = window.setTimeout(() => this.reload(), RELOAD_DELAY_MS);
  }

  override dispose(): void {
    window.clearTimeout(this._timer);
    super.dispose();
  }

  private _path: string;
  private _url: string;
  private _reloads = 0;
  private _timer: number | undefined = undefined;
}

let count = 0;

/** A closable main-area panel titled with the app's name, with Reload and Open-in-tab buttons. */
export class AppPanel extends MainAreaWidget<AppFrame> {
  constructor(path: string, url: string) {
    super({ content: new AppFrame(path, url) });
    count += 1;
    this.id = `jupyter-bridge-app-${count}`;
    this.addClass('jp-BridgeApp');
    this.title.icon = launchIcon;
    this.title.closable = true;
    this.setTitle();
    this.toolbar.addItem(
      'reload',
      new ToolbarButton({
        icon: refreshIcon,
        tooltip: 'Reload the app (a fresh session)',
        onClick: () => this.content.reload(),
      }),
    );
    this.toolbar.addItem(
      'open-in-tab',
      new ToolbarButton({
        icon: launchIcon,
        tooltip: 'Open the app in a new browser tab',
        onClick: () => window.open(this.content.url, '_blank', 'noopener'),
      }),
    );
  }

  /** Follow a rename of the app's file or directory. */
  moveTo(path: string, url: string): void {
    this.content.moveTo(path, url);
    this.setTitle();
  }

  private setTitle(): void {
    const path = this.content.path;
    this.title.label = PathExt.basename(path) || path;
    this.title.caption = `App: ${path} (reloads when saved)`;
  }
}
