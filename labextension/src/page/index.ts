// The page client: reads the config the server put in the page, connects to
// the session and renders its widgets.

import '@fortawesome/fontawesome-free/css/all.min.css';
import '@fortawesome/fontawesome-free/css/v4-shims.min.css';
import '@jupyter-widgets/controls/css/labvariables.css';
import '@jupyter-widgets/controls/css/widgets-base.css';
// Every widget view is a Lumino widget, positioned as in JupyterLab and Voila: a
// library's absolutely placed parts (bqplot's background, ipympl's toolbar) sit in it.
import '@lumino/widgets/style/widget.css';
// KaTeX's rules, here because a chunk's CSS is not loaded; its fonts load only when math shows.
import 'katex/dist/katex.min.css';
// The Output widget's rules, here rather than in its chunk: a chunk's CSS is not loaded.
import '@jupyter-widgets/html-manager/css/output.css';
import './page.css';

import { Comms } from './comm';
import { Connection } from './connection';
import { BridgeManager } from './manager';
import { amdLoader, type InlineModules } from './modules';
import type { JSONObject, ServerMessage } from './protocol';
import { UserChanges } from './restore';
import { Roots } from './roots';
import { Status } from './status';
import { followTheme } from './theme';

/** The hashed file name of require.js next to this script; set by build.mjs. */
declare const REQUIRE_JS_FILE: string;

interface Config {
  wsUrl: string;
  token: string;
  modulesUrl: string;
  sessionId?: string;
}

/** A page written by `jupyter-bridge html`: the document's state, no server. */
interface StaticConfig {
  title: string;
  roots: string[];
  state: Parameters<BridgeManager['set_state']>[0];
  modulesUrl?: string;
  /** The third-party widget modules the state needs, and RequireJS, as sources. */
  modules?: InlineModules['modules'];
  requireJs?: string;
}

export interface JupyterBridge {
  manager: BridgeManager;
  connection: Connection;
  /** What the user changed, which a fresh session of the app takes back. */
  changes: UserChanges;
  /** Resolves once the first roots are displayed and the socket has connected. */
  ready: Promise<void>;
}

declare global {
  interface Window {
    jupyterBridge?: JupyterBridge;
  }
}

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

/** The session's widget state as the page's HTML carried it: the stream's position and the messages a new page gets. */
interface PageState {
  session_id: string;
  stream: string;
  last_seq: number;
  /** Each message with its buffers as base64 text. */
  messages: [ServerMessage, string[]][];
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

function decodeBuffer(text: string): DataView {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return new DataView(bytes.buffer);
}

function webSocketUrl(relative: string): URL {
  const url = new URL(relative, document.baseURI);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

/**
 * A static page: models from the embedded widget state, views of its roots.
 * Links made in the browser (jslink) keep working; nothing reaches Python.
 */
function startStatic(config: StaticConfig): Promise<void> {
  const container = document.getElementById('jupyter-bridge-roots') ?? document.body;
  followTheme();
  const modulesUrl = new URL(config.modulesUrl ?? './', document.baseURI).href;
  const inline = config.modules && config.requireJs ? { modules: config.modules, requireJs: config.requireJs } : undefined;
  const manager = new BridgeManager(amdLoader(modulesUrl, new URL(REQUIRE_JS_FILE, scriptUrl).href, inline));
  const roots = new Roots(manager, container);
  document.documentElement.dataset.jbState = 'static';
  return manager
    .set_state(config.state)
    .then(() => roots.update(config.roots))
    .then(() => {
      container.dataset.jbDrawn = '1';
      container.dataset.jbReady = '1';
    });
}

function start(): JupyterBridge {
  const config = readConfig();
  const container = document.getElementById('jupyter-bridge-roots') ?? document.body;
  followTheme();
  const status = new Status(document.body);
  const modulesUrl = new URL(config.modulesUrl, document.baseURI).href;
  const manager = new BridgeManager(amdLoader(modulesUrl, new URL(REQUIRE_JS_FILE, scriptUrl).href));
  const roots = new Roots(manager, container);
  const changes = new UserChanges();
  // Changes the page before this one kept across its reload (the app changed, --dev).
  const reloadKey = `jupyter-bridge-changes:${location.pathname}`;
  let fromReload = changes.load(reloadKey);

  let shown: () => void;
  const ready = new Promise<void>((resolve) => (shown = resolve));
  let firstDoc = true;
  // Drawn: the first roots are displayed, from the page's HTML or the socket.
  // Ready: drawn and connected, so the page's changes reach Python at once.
  let drawn = false;
  let connected = false;
  let isReady = false;
  const readyIfConnected = (): void => {
    if (drawn && connected && !isReady) {
      isReady = true;
      container.dataset.jbReady = '1';
      shown();
    }
  };

  const apply = (message: ServerMessage, buffers: DataView[]): void => {
    switch (message.type) {
      case 'hello':
        if (message.recreated === true && !isReady) {
          // What the page drew is replaced: ready once the new session's roots are shown.
          drawn = false;
          firstDoc = true;
        }
        connected = true;
        readyIfConnected();
        if (fromReload && message.recreated !== true) {
          // The new version of the app runs in this fresh session: replay into it.
          fromReload = false;
          status.reloaded();
          const { message: restore, buffers: restoreBuffers } = changes.message(connection.nextId());
          sender.send(restore, restoreBuffers);
        }
        break;
      case 'comm_open':
        changes.opened(message.comm_id, ((message.data as { state?: JSONObject }).state ?? {}) as JSONObject);
        if (message.target_name === manager.comm_target_name) {
          manager.open(comms.opened(message.comm_id, message.target_name), message, buffers);
        } else {
          console.warn(`jupyter_bridge: ignored a comm for unknown target ${message.target_name}`);
        }
        break;
      case 'comm_msg': {
        const data = message.data as { method?: string; state?: JSONObject };
        if ((data.method === 'update' || data.method === 'echo_update') && data.state) {
          changes.updated(message.comm_id, data.state);
        }
        comms.received(message, buffers);
        break;
      }
      case 'comm_close':
        changes.closed(message.comm_id);
        comms.closedByServer(message);
        break;
      case 'idle':
        status.answered(message.parent);
        comms.idle(message.parent);
        break;
      case 'doc': {
        document.title = message.title;
        status.title(message.title);
        changes.doc(message.roots, message.restore !== false, message.no_restore ?? []);
        const displayed = roots.update(message.roots, message.names);
        if (firstDoc) {
          firstDoc = false;
          void displayed.then(() => {
            container.dataset.jbDrawn = '1';
            drawn = true;
            readyIfConnected();
          });
        }
        break;
      }
      case 'error':
        console.error(`jupyter_bridge: ${message.message}`, message.detail ?? '');
        status.error(message);
        break;
      case 'busy':
        status.busy(message.busy);
        break;
      case 'restored':
        status.restored(message, changes.dropped);
        break;
      // hello is handled by the connection; pong and unknown types need nothing.
    }
  };

  // The handlers run only once connection.open() below is called, when comms exists.
  const connection = new Connection(webSocketUrl(config.wsUrl), config.token, {
    message: apply,
    state: (state, reason) => status.show(state, reason),
    lost: () => {
      comms.releaseAll();
      status.forgetWaiting();
    },
    reloading: () => changes.save(reloadKey),
    recreated: (wasConnected) => {
      // The old session's widgets are gone with it: the new one's replace them.
      comms.forgetAll();
      manager.forgetAll();
      void roots.update([]);
      changes.newSession();
      // The user's changes go back into the fresh session, in order, before anything else.
      const restoring = changes.count > 0;
      if (wasConnected) {
        status.recreated(restoring);
      }
      if (restoring) {
        const { message, buffers } = changes.message(connection.nextId());
        sender.send(message, buffers);
      }
    },
  });
  const sender = status.timing(connection);
  const comms = new Comms(sender);
  comms.onUpdate = (commId, state, paths, buffers) => changes.sent(commId, state, paths, buffers);
  manager.comms = comms;

  // Leaving the page is not losing the connection; coming back from the
  // back/forward cache resumes the session where it stopped.
  window.addEventListener('pagehide', () => connection.close());
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) {
      connection.open();
    }
  });
  // The state the page's HTML carried is shown now, without waiting for the
  // socket, which resumes the session's stream after it. The socket is opened
  // first, so its handshake runs meanwhile; its messages are handled after these.
  const pageState = takePageState(config.sessionId);
  if (pageState !== null) {
    connection.resumeAfter(pageState.last_seq, pageState.stream);
  }
  connection.open();
  for (const [message, buffers] of pageState?.messages ?? []) {
    try {
      apply(message, buffers.map(decodeBuffer));
    } catch (error) {
      console.error(`jupyter_bridge: failed to apply a ${message.type} message`, error);
    }
  }
  return { manager, connection, changes, ready };
}

function boot(): void {
  // Behind a spinner sent first (page.html, shell.html) the page's own script
  // lands in the body, after the scripts require.js adds to the head: widget
  // bundles that find their files from "the last script" would look beside it.
  document.querySelectorAll('body script[data-jb-head]').forEach((script) => document.head.append(script));
  try {
    const config = readConfig();
    if (config.state !== undefined) {
      void startStatic(config as StaticConfig).catch((error: unknown) => console.error(error));
      return;
    }
    window.jupyterBridge = start();
  } catch (error) {
    document.documentElement.dataset.jbState = 'disconnected';
    console.error(error);
  }
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', boot, { once: true });
} else {
  boot();
}
