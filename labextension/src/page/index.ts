// The page client's entry: reads what the server put in the page and opens the
// session's socket at once, while the widgets' code (app.ts, preloaded beside
// this small script) loads; that code then draws the state the page carried.

import '@jupyter-widgets/controls/css/labvariables.css';
import '@jupyter-widgets/controls/css/widgets-base.css';
// Every widget view is a Lumino widget, positioned as in JupyterLab and Voila: a
// library's absolutely placed parts (bqplot's background, ipympl's toolbar) sit in it.
import '@lumino/widgets/style/widget.css';
// Font Awesome's and KaTeX's rules are stylesheets of their own, loaded when needed (styles.ts).
// The Output widget's rules, here rather than in its chunk: a chunk's CSS is not loaded.
import '@jupyter-widgets/html-manager/css/output.css';
import './page.css';

import type { Config, PageState, StaticConfig } from './app';
import { Connection, EarlyHandlers } from './connection';
import { loadApp } from './load-app';

// The address of this script, to find require.js beside it. As a module it is
// import.meta.url; as the classic script of a static page (build.mjs sets
// import.meta.url undefined there) currentScript, only known while it runs.
const scriptUrl =
  (import.meta.url as string | undefined) ?? ((document.currentScript as HTMLScriptElement | null)?.src || document.baseURI);

function readConfig(): Config & Partial<StaticConfig> {
  const element = document.getElementById('jupyter-bridge-config');
  if (element === null) {
    throw new Error('jupyter_bridge: the page has no #jupyter-bridge-config element');
  }
  return JSON.parse(element.textContent ?? '') as Config & Partial<StaticConfig>;
}

/** The state the page's HTML carried for this session, once; null if none (or of another session). */
function takePageState(sessionId: string | undefined): PageState | null {
  const element = document.getElementById('jupyter-bridge-state');
  if (element === null) {
    return null;
  }
  element.remove(); // read once: a page shown again from the back/forward cache resumes its socket
  try {
    const state = JSON.parse(element.textContent ?? '') as PageState;
    // At position 0 nothing of the stream is known to follow it: the socket sends the state.
    return state.session_id === sessionId && state.last_seq > 0 ? state : null;
  } catch (error) {
    console.error('jupyter_bridge: the widget state in the page could not be read', error);
    return null;
  }
}

function webSocketUrl(relative: string): URL {
  const url = new URL(relative, document.baseURI);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/** Resolves after the tasks already queued (a socket's) have run. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

function failed(error: unknown): void {
  document.documentElement.dataset.jbState = 'disconnected';
  console.error(error);
}

function boot(): void {
  // Behind a spinner sent first (page.html, shell.html) the page's own script
  // lands in the body, after the scripts require.js adds to the head: widget
  // bundles that find their files from "the last script" would look beside it.
  document.querySelectorAll('body script[data-jb-head]').forEach((script) => document.head.append(script));
  try {
    const config = readConfig();
    if (config.state !== undefined) {
      loadApp()
        .then((app) => app.startStatic(config as StaticConfig, scriptUrl))
        .catch((error: unknown) => console.error(error));
      return;
    }
    // The socket's handshake runs while the widgets' code loads and draws;
    // what the socket brings meanwhile waits for that code, in order.
    const pageState = takePageState(config.sessionId);
    const early = new EarlyHandlers();
    const connection = new Connection(webSocketUrl(config.wsUrl), config.token, early);
    if (pageState !== null) {
      connection.resumeAfter(pageState.last_seq, pageState.stream);
    }
    connection.open();
    loadApp()
      // Evaluating the widgets' code is one long task, during which the socket's
      // handshake and hello arrive: a turn of the event loop lets the page take
      // them before it draws, so that the frame that draws the widgets finds the
      // page connected, instead of a later one. The browser reads the hello only
      // once it has taken the handshake: if that turn took it, one more turn
      // takes the hello (drawing is one long task too).
      .then((app) => nextTurn().then(() => app))
      .then((app) => (connection.helloDue ? nextTurn().then(() => app) : app))
      .then((app) => {
        window.jupyterBridge = app.start(config, scriptUrl, connection, early, pageState);
      })
      .catch(failed);
  } catch (error) {
    failed(error);
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', boot, { once: true });
} else {
  boot();
}
