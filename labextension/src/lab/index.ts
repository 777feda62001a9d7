// The JupyterLab (and Notebook 7) extension: "Open as App" runs a script, a
// notebook or a directory app through the jupyter_bridge server extension
// ({base_url}bridge/apps/<path>) and shows it in a panel that reloads — a fresh
// session — whenever the app's files are saved from this browser.

import { ILabShell, ILayoutRestorer } from '@jupyterlab/application';
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import { DocumentWidget } from '@jupyterlab/docregistry';
import type { DocumentRegistry, IDocumentWidget } from '@jupyterlab/docregistry';
import type { IFileBrowserFactory } from '@jupyterlab/filebrowser';
import type { Contents } from '@jupyterlab/services';
import { ToolbarButton, launchIcon } from '@jupyterlab/ui-components';
import { DisposableDelegate } from '@lumino/disposable';
import type { IDisposable } from '@lumino/disposable';

import { AppPanel } from './panel';
import { appCovers, appUrl, fetchPage, framingRefused, isAppFile, renamedPath, tokenForPages } from './url';

export const OPEN_AS_APP = 'jupyter-bridge:open-as-app';

const LABEL = 'Open as App';

interface OpenArgs {
  /** The app's path relative to Jupyter's root: a .py or .ipynb file, or a directory. */
  path?: string;
  /** Set by the file browser's context menu: take the path from the browser's selection. */
  fromBrowser?: boolean;
}

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'jupyter-bridge:plugin',
  description: 'Open a jupyter_bridge app (script, notebook or directory) in a panel that reloads when saved.',
  autoStart: true,
  // The file browser's token is looked up after start (see fileBrowsers): front ends
  // other than JupyterLab and Notebook 7 (Voila's pages) load every installed
  // extension but share no @jupyterlab/filebrowser, and a static import of it would
  // fail this whole module there.
  optional: [ILabShell, ICommandPalette, ILayoutRestorer],
  activate,
};

export default plugin;

function activate(
  app: JupyterFrontEnd,
  labShell: ILabShell | null,
  palette: ICommandPalette | null,
  restorer: ILayoutRestorer | null,
): void {
  const { commands, serviceManager } = app;
  let browsers: IFileBrowserFactory | null = null;
  void fileBrowsers(app).then((factory) => (browsers = factory));
  const settings = serviceManager.serverSettings;
  const tracker = new WidgetTracker<AppPanel>({ namespace: 'jupyter-bridge' });

  // Known before the first click, so a new browser tab opens within the click's
  // user gesture (popup blockers refuse one opened after an await).
  let token: string | null = null;
  const tokenReady = tokenForPages(settings).then((value) => (token = value));
  const urlFor = async (path: string): Promise<string> => appUrl(path, settings, token ?? (await tokenReady));
  // Behind JupyterHub no page of the server may be framed: the panel fetches the page instead.
  const pageLoader = framingRefused() ? (url: string) => fetchPage(url, settings) : null;

  /** The path the command acts on: its argument, the file browser's selection, the current document or app panel. */
  function targetPath(args: OpenArgs): string | null {
    const path = requestedPath(args);
    // Without a drive prefix (e.g. "RTC:"): the server serves paths under its root.
    return path === null ? null : serviceManager.contents.localPath(path);
  }

  function requestedPath(args: OpenArgs): string | null {
    if (typeof args.path === 'string' && args.path !== '') {
      return args.path;
    }
    if (args.fromBrowser) {
      const item = browsers?.tracker.currentWidget?.selectedItems().next();
      const model = item && !item.done ? item.value : undefined;
      return model && (model.type === 'directory' || isAppFile(model.path)) ? model.path : null;
    }
    const current = app.shell.currentWidget;
    if (current instanceof DocumentWidget && isAppFile(current.context.path)) {
      return current.context.path;
    }
    return current instanceof AppPanel ? current.content.path : null;
  }

  commands.addCommand(OPEN_AS_APP, {
    label: LABEL,
    caption: 'Run this script, notebook or directory as a jupyter_bridge app; it reloads when saved',
    icon: (args) => (args.fromBrowser ? launchIcon : undefined),
    isEnabled: (args) => targetPath(args as OpenArgs) !== null,
    execute: async (args) => {
      const path = targetPath(args as OpenArgs);
      if (path === null) {
        return;
      }
      if (labShell === null) {
        // Notebook 7 (or another shell): no main area to share, so a browser tab.
        if (token !== null) {
          window.open(appUrl(path, settings, token), '_blank');
        } else {
          const opened = window.open('', '_blank');
          const url = await urlFor(path);
          if (opened) {
            opened.location.href = url;
          }
        }
        return;
      }
      const url = await urlFor(path);
      const existing = tracker.find((panel) => panel.content.path === path);
      if (existing) {
        existing.content.reload();
        app.shell.activateById(existing.id);
        return existing;
      }
      const panel = new AppPanel(path, url, pageLoader);
      void tracker.add(panel);
      const current = app.shell.currentWidget;
      const beside = current instanceof DocumentWidget ? current : null;
      app.shell.add(panel, 'main', beside ? { mode: 'split-right', ref: beside.id } : undefined);
      app.shell.activateById(panel.id);
      return panel;
    },
  });

  palette?.addItem({ command: OPEN_AS_APP, category: 'jupyter_bridge' });

  // The server decides whether a directory is an app (it has a main.py).
  for (const selector of [
    '.jp-DirListing-item[data-file-type="python"]',
    '.jp-DirListing-item[data-file-type="notebook"]',
    '.jp-DirListing-item[data-isdir="true"]',
  ]) {
    app.contextMenu.addItem({ command: OPEN_AS_APP, args: { fromBrowser: true }, selector, rank: 3 });
  }

  const button = new OpenAsAppButton(commands);
  app.docRegistry.addWidgetExtension('Notebook', button);
  app.docRegistry.addWidgetExtension('Editor', button);

  // Every save made from this browser goes through the contents manager: the
  // notebook and editor's own saves, and programs using the Contents API.
  serviceManager.contents.fileChanged.connect((_, change: Contents.IChangedArgs) => {
    const local = (model: Partial<Contents.IModel> | null) =>
      model?.path ? serviceManager.contents.localPath(model.path) : null;
    const newPath = local(change.newValue);
    if (change.type === 'save' && newPath !== null) {
      tracker.forEach((panel) => {
        if (appCovers(panel.content.path, newPath)) {
          panel.content.scheduleReload();
        }
      });
    } else if (change.type === 'rename' && newPath !== null) {
      const oldPath = local(change.oldValue);
      tracker.forEach((panel) => {
        const moved = oldPath === null ? null : renamedPath(panel.content.path, oldPath, newPath);
        if (moved !== null) {
          void urlFor(moved).then((url) => {
            panel.moveTo(moved, url);
            void tracker.save(panel);
          });
        }
      });
    }
  });

  if (restorer) {
    void restorer.restore(tracker, {
      command: OPEN_AS_APP,
      args: (panel) => ({ path: panel.content.path }),
      name: (panel) => panel.content.path,
    });
  }
}

/**
 * The front end's file browsers, if it has any: @jupyterlab/filebrowser is imported
 * only here, when the host shares it, so that loading this extension needs nothing
 * more than what every JupyterLab-based front end shares.
 */
async function fileBrowsers(app: JupyterFrontEnd): Promise<IFileBrowserFactory | null> {
  try {
    const { IFileBrowserFactory } = await import('@jupyterlab/filebrowser');
    return await app.resolveOptionalService(IFileBrowserFactory);
  } catch {
    return null; // not shared by this front end: no file browser to act on
  }
}

/** A toolbar button in notebooks and in editors of .py files. */
class OpenAsAppButton implements DocumentRegistry.IWidgetExtension<IDocumentWidget, DocumentRegistry.IModel> {
  constructor(private readonly commands: JupyterFrontEnd['commands']) {}

  createNew(widget: IDocumentWidget, context: DocumentRegistry.IContext<DocumentRegistry.IModel>): IDisposable {
    const button = new ToolbarButton({
      className: 'jp-BridgeOpenAsApp',
      icon: launchIcon,
      label: 'App',
      tooltip: LABEL,
      onClick: () => void this.commands.execute(OPEN_AS_APP, { path: context.path }),
    });
    const follow = () => button.setHidden(!isAppFile(context.path));
    follow();
    context.pathChanged.connect(follow);
    widget.toolbar.insertItem(10, 'jupyterBridgeOpenAsApp', button);
    return new DisposableDelegate(() => {
      context.pathChanged.disconnect(follow);
      button.dispose();
    });
  }
}
