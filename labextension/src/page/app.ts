// The page client's widgets: the manager, the roots and the page's status,
// fed by the state the page carried and the session's socket (index.ts opens it).

import { Comms } from './comm';
import type { Connection, ConnectionHandlers, EarlyHandlers } from './connection';
import { BridgeManager } from './manager';
import { amdLoader, type InlineModules } from './modules';
import type { Doc, JSONObject, ServerMessage } from './protocol';
import { UserChanges } from './restore';
import { Roots } from './roots';
import { Status } from './status';
import { loadStyles, setStyles, type Styles } from './styles';
import { followTheme } from './theme';

/** The hashed file name of require.js next to this script; set by build.mjs. */
declare const REQUIRE_JS_FILE: string;

export interface Config {
  wsUrl: string;
  token: string;
  modulesUrl: string;
  sessionId?: string;
  /** The addresses of the stylesheets loaded when needed (styles.ts). */
  styles?: Styles;
}

/** A page written by `jupyter-bridge html`: the document's state, no server. */
export interface StaticConfig {
  title: string;
  roots: string[];
  state: Parameters<BridgeManager['set_state']>[0];
  modulesUrl?: string;
  /** The third-party widget modules the state needs, and RequireJS, as sources. */
  modules?: InlineModules['modules'];
  requireJs?: string;
}

/** The session's widget state as the page's HTML carried it: the stream's position and the messages a new page gets. */
export interface PageState {
  session_id: string;
  stream: string;
  last_seq: number;
  /** Each message with its buffers as base64 text. */
  messages: [ServerMessage, string[]][];
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

function decodeBuffer(text: string): DataView {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) {
    bytes[i] = binary.charCodeAt(i);
  }
  return new DataView(bytes.buffer);
}

/**
 * Whether this page was loaded again (as the page does when its app changed): only
 * then may the tab's storage hold changes for it. The first use of that storage
 * costs tens of milliseconds on the way to the first paint, so other pages skip it.
 */
function wasReloaded(): boolean {
  const navigation = performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined;
  return navigation === undefined || navigation.type === 'reload';
}

/** How long after it has drawn a page that is not connected yet loads its icons anyway. */
const ICONS_AFTER_MS = 2000;

/**
 * Loads Font Awesome's stylesheet once the page has shown what it drew: after
 * the next frame, so that its parse and the restyle it causes are not in that frame.
 */
function loadIcons(): void {
  requestAnimationFrame(() => setTimeout(() => void loadStyles('icons'), 0));
}

/**
 * A static page: models from the embedded widget state, views of its roots.
 * Links made in the browser (jslink) keep working; nothing reaches Python.
 */
export function startStatic(config: StaticConfig, scriptUrl: string): Promise<void> {
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

/**
 * The page of a live session: shows the state the page carried (`pageState`),
 * then what `connection` brings; `early` holds what it brought before this ran.
 */
export function start(
  config: Config,
  scriptUrl: string,
  connection: Connection,
  early: EarlyHandlers,
  pageState: PageState | null,
): JupyterBridge {
  const container = document.getElementById('jupyter-bridge-roots') ?? document.body;
  followTheme();
  setStyles(config.styles);
  const status = new Status(document.body);
  const modulesUrl = new URL(config.modulesUrl, document.baseURI).href;
  const manager = new BridgeManager(amdLoader(modulesUrl, new URL(REQUIRE_JS_FILE, scriptUrl).href));
  manager.filesUrl = new URL('files/', new URL(config.wsUrl, document.baseURI)).href; // <app>/ws -> <app>/files/
  const roots = new Roots(manager, container);
  const changes = new UserChanges();
  // Changes the page before this one kept across its reload (the app changed, --dev).
  const reloadKey = `jupyter-bridge-changes:${location.pathname}`;
  let fromReload = wasReloaded() && changes.load(reloadKey);

  let shown: () => void;
  const ready = new Promise<void>((resolve) => (shown = resolve));
  let firstDoc = true;
  // Drawn: the first roots are displayed, from the page's HTML or the socket.
  // Ready: drawn and connected, so the page's changes reach Python at once.
  let drawn = false;
  /** The first roots being displayed; null until a doc names them. */
  let drawing: Promise<void> | null = null;
  /** Settles once the first document the page received is drawn (it waits for its models first). */
  let firstDrawing: Promise<void> | null = null;
  let connected = false;
  let isReady = false;
  const readyIfConnected = (): void => {
    if (drawn && connected && !isReady) {
      isReady = true;
      container.dataset.jbReady = '1';
      shown();
      loadIcons();
    }
  };

  /** How often the page's session was replaced by another copy of it. */
  let replacements = 0;
  const showDocument = (message: Doc): void => {
    document.title = message.title;
    status.title(message.title);
    const displayed = roots.update(message.roots, message.names);
    if (firstDoc) {
      firstDoc = false;
      drawing = displayed;
      void displayed.then(() => {
        container.dataset.jbDrawn = '1';
        drawn = true;
        readyIfConnected();
        // A page whose socket does not connect soon still gets its icons.
        setTimeout(loadIcons, ICONS_AFTER_MS);
      });
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
        manager.afterOpened(() => comms.received(message, buffers), message.comm_id);
        break;
      }
      case 'comm_close':
        changes.closed(message.comm_id);
        manager.afterOpened(() => comms.closedByServer(message), message.comm_id);
        break;
      case 'idle':
        status.answered(message.parent);
        comms.idle(message.parent);
        break;
      case 'doc': {
        const sessionAt = replacements;
        changes.doc(message.roots, message.restore !== false, message.no_restore ?? []);
        // Views are made after the models opened before them, as a kernel displays a widget after making it.
        const docShown = new Promise<void>((resolve) => {
          manager.afterOpened(() => {
            if (sessionAt === replacements) {
              showDocument(message);
            }
            resolve();
          });
        });
        if (firstDoc && firstDrawing === null) {
          firstDrawing = docShown.then(() => drawing ?? undefined);
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

  const handlers: ConnectionHandlers = {
    message: apply,
    state: (state, reason) => status.show(state, reason),
    lost: () => {
      comms.releaseAll();
      status.forgetWaiting();
    },
    reloading: () => changes.save(reloadKey),
    recreated: (wasConnected) => {
      // From now on nothing goes to the old session's widgets: the socket reaches the new one.
      comms.forgetAll();
      const stillDrawing = drawing ?? firstDrawing;
      if (stillDrawing !== null && !drawn) {
        // Still drawing the state the page carried (or still making the models
        // its document waits for): replace it once drawn (its views would
        // otherwise be built on closed models), holding what the socket brings
        // meanwhile.
        const drawnThen = stillDrawing.then(() => new Promise((resolve) => setTimeout(resolve, 0)));
        early.holdUntil(drawnThen.then(() => replace(wasConnected)));
        return;
      }
      replace(wasConnected);
    },
  };
  const replace = (wasConnected: boolean): void => {
    replacements += 1; // a document of the old session still waiting for its models is not shown
    firstDrawing = null;
    // The old session's widgets are gone with it: the new one's replace them.
    comms.forgetAll();
    manager.forgetAll();
    void roots.update([]);
    changes.newSession();
    // The user's changes go back into the fresh session, in order, before anything else
    // (those a reload kept too: this is the session they go to).
    fromReload = false;
    const restoring = changes.count > 0;
    if (wasConnected) {
      status.recreated(restoring);
    }
    if (restoring) {
      const { message, buffers } = changes.message(connection.nextId());
      sender.send(message, buffers);
    }
  };
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
  // The state the page's HTML carried is shown first, then what the socket
  // (opened before this code loaded) brought meanwhile, then the rest as it comes.
  for (const [message, buffers] of pageState?.messages ?? []) {
    try {
      apply(message, buffers.map(decodeBuffer));
    } catch (error) {
      console.error(`jupyter_bridge: failed to apply a ${message.type} message`, error);
    }
  }
  early.attach(handlers);
  return { manager, connection, changes, ready };
}
