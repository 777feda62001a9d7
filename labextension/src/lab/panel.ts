// The main-area panel that shows an app's page: an iframe that starts a fresh
// session each time it loads.

import { MainAreaWidget } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IFrame, ToolbarButton, launchIcon, refreshIcon } from '@jupyterlab/ui-components';

/** After a save, wait this long for more saves (a directory app saved file by file) before reloading. */
const RELOAD_DELAY_MS = 150;

/**
 * Fetches an app's page (its HTML) the way JupyterLab makes its own requests.
 *
 * For servers whose pages refuse to be framed: JupyterHub sends
 * `frame-ancestors 'none'` with every page of a user's server, because all the
 * servers of a hub share one origin and a framed page would be open to the
 * scripts of any other user's server. The panel then shows the fetched page
 * in its frame (`srcdoc`, the same origin as JupyterLab) instead of
 * navigating the frame to it; the page's scripts and WebSocket log in with the
 * browser's cookies as usual.
 */
export type PageLoader = (url: string) => Promise<string>;

/** The app's page in an iframe. Loading the page is what creates a session. */
export class AppFrame extends IFrame {
  constructor(path: string, url: string, loader: PageLoader | null = null) {
    super({ referrerPolicy: 'same-origin' });
    this._loader = loader;
    // No sandbox: the page is the user's own app served by this same Jupyter
    // server, as trusted as JupyterLab itself, and it needs scripts and
    // same-origin access (cookies log its page and WebSocket in). A sandbox
    // allowing both would be no sandbox, and Chromium warns about it.
    this.node.querySelector('iframe')?.removeAttribute('sandbox');
    this.addClass('jp-BridgeApp-frame');
    this._path = path;
    this._url = url;
    this.load(url);
  }

  /** The address of the app's page (what "Open in a new tab" opens). */
  get pageUrl(): string {
    return this._url;
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
    this.load(this._url);
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

  private load(url: string): void {
    this.node.dataset.jbUrl = url;
    if (this._loader === null) {
      // Setting src, even to the same URL, navigates the frame again.
      this.url = url;
      return;
    }
    const frame = this.node.querySelector('iframe');
    const shown = ++this._shown;
    void this._loader(url).then(
      (html) => {
        if (frame && shown === this._shown && !this.isDisposed) {
          // Setting srcdoc, even to the same page, loads the frame again. The page's
          // relative addresses are relative to where it was served.
          frame.srcdoc = withBase(html, url);
        }
      },
      (error: unknown) => {
        if (frame && shown === this._shown && !this.isDisposed) {
          frame.srcdoc = `<p>Could not load ${escapeHtml(url)}: ${escapeHtml(String(error))}</p>`;
        }
      },
    );
  }

  private _loader: PageLoader | null;
  private _shown = 0;
  private _path: string;
  private _url: string;
  private _reloads = 0;
  private _timer: number | undefined = undefined;
}

/** `html` with a `<base>` naming `url`, so that its relative addresses resolve as if served there. */
function withBase(html: string, url: string): string {
  const base = `<base href="${escapeHtml(new URL(url, window.location.href).href)}">`;
  const head = /<head(\s[^>]*)?>/i.exec(html);
  return head ? html.slice(0, head.index + head[0].length) + base + html.slice(head.index + head[0].length) : base + html;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

let count = 0;

/** A closable main-area panel titled with the app's name, with Reload and Open-in-tab buttons. */
export class AppPanel extends MainAreaWidget<AppFrame> {
  constructor(path: string, url: string, loader: PageLoader | null = null) {
    super({ content: new AppFrame(path, url, loader) });
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
        onClick: () => window.open(this.content.pageUrl, '_blank', 'noopener'),
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
