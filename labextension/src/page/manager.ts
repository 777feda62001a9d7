// The widget manager of a page.
//
// It builds on the widget manager base class rather than html-manager's
// HTMLManager, which imports the rendermime registry, the output area and the
// Jupyter services with it: about half the page's code, used only by Output
// widgets. Here those load on demand, with the first Output widget (output.ts),
// and the HTML sanitizer of `description_allow_html` with the first such
// description (sanitize.ts); so do the controls few pages use (controls.ts).

import * as base from '@jupyter-widgets/base';
import {
  DOMWidgetModel,
  DOMWidgetView,
  uuid,
  type IClassicComm,
  type IModelOptions,
  WidgetModel,
  type WidgetView,
} from '@jupyter-widgets/base';
import { ManagerBase } from '@jupyter-widgets/base-manager';
import { MessageLoop } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';
import { Comm, Comms } from './comm';
import { loadJQuery, queryOnDemand } from './jquery';
import * as controls from './controls';
import { loadControls, loadOutput } from './lazy';
import { MODEL_REF_PREFIX } from './protocol';
import type { CommOpen, JSONObject } from './protocol';
import { onSanitizerLoaded } from './sanitize';
import { latexRenderMime } from './typeset';

type CommOpenMsg = Parameters<ManagerBase['handle_comm_open']>[1];
type WidgetClass = typeof WidgetModel | typeof WidgetView;
export type ModuleLoader = (moduleName: string, moduleVersion: string) => Promise<unknown>;

// Backbone gives a model made without options `{}` by assigning its `options`
// parameter, which in sloppy-mode code also changes the `arguments` it hands to
// `initialize`. Bundled into this page's ES modules, which are strict, it does
// not: a model made without options threw in `initialize` (reading
// `options.widget_manager`). ipywidgets makes its error model that way when a
// widget's model cannot be made (pythreejs's TubeGeometry without a path), and
// base-manager makes the error box of a view that cannot be made that way too,
// so the page threw where JupyterLab and Voila show the error widget.
const initializeModel = base.WidgetModel.prototype.initialize;
base.WidgetModel.prototype.initialize = function (
  this: WidgetModel,
  attributes: Parameters<WidgetModel['initialize']>[0],
  options?: Parameters<WidgetModel['initialize']>[1],
): void {
  initializeModel.call(this, attributes, options ?? ({} as Parameters<WidgetModel['initialize']>[1]));
};

// A view's `$el` is its element as a jQuery object once jQuery is loaded (jquery.ts).
queryOnDemand(base.WidgetView.prototype);

const IPYWIDGETS_7 =
  'This widget was made with ipywidgets 7, which jupyter_bridge does not support: upgrade it to ipywidgets 8.';

export class BridgeManager extends ManagerBase {
  /** The rendermime registry of Output widgets; set once output.ts has loaded. */
  renderMime: unknown = undefined;
  /** Where HTMLMath, Label and description views find their math typesetter (typeset.ts). */
  readonly _rendermime = latexRenderMime;
  private readonly views = new Set<DOMWidgetView>();
  private outputModule: Promise<Record<string, unknown>> | null = null;

  constructor(private readonly loader: ModuleLoader) {
    super();
    window.addEventListener('resize', () => {
      this.views.forEach((view) => MessageLoop.postMessage(view.luminoWidget, Widget.ResizeMessage.UnknownSize));
    });
    // A description shown as text while the sanitizer loaded is shown as HTML now.
    onSanitizerLoaded(() => void this.redrawHtmlDescriptions());
  }

  /**
   * Creates the model of a comm the server opened.
   *
   * Call in arrival order and without awaiting in between: the manager
   * registers the model before its first await, so a container model can
   * find children whose classes are still loading.
   */
  /** What each comm_open said of its widget, for messages about a widget that never shows. */
  private readonly descriptions = new Map<string, WidgetDescription>();

  /** The module, model name and imported addresses of the widget of comm `id`. */
  describe(id: string): WidgetDescription {
    return this.descriptions.get(id) ?? { module: '', model: '', urls: [] };
  }

  open(comm: Comm, message: CommOpen, buffers: DataView[]): void {
    this.descriptions.set(message.comm_id, describeWidget(message.data));
    const msg = {
      content: { comm_id: message.comm_id, target_name: message.target_name, data: message.data },
      metadata: message.metadata ?? {},
      buffers,
    };
    this.opening = true;
    let made: Promise<WidgetModel>;
    try {
      made = this.handle_comm_open(comm, msg as unknown as CommOpenMsg);
    } finally {
      this.opening = false;
    }
    made.then(
      (model) => model.once('comm:close', () => this.descriptions.delete(message.comm_id)),
      (error: unknown) => {
        console.error(`jupyter_bridge: could not create the model of comm ${message.comm_id}`, error);
      },
    );
  }

  // A kernel's models are made one by one, in the order Python opened them,
  // and a message reaches the page after the models opened before it are made:
  // a jslink copies its source's value when its model is made, so links made
  // out of order (one waiting for a library's code, the next one ready at once)
  // leave other values than Python's (a slider linked to a scale's unset
  // bounds showed no value). Every library's code still loads at once; only
  // the models' making waits its turn. A model whose state names a model not
  // opened yet cannot wait for it, so it is made outside the line.
  /** Whether handle_comm_open is running for a model the server opened. */
  private opening = false;
  /** Settles once every model the server opened so far is made (or failed). */
  private madeSoFar: Promise<unknown> = Promise.resolve();
  /** The models the server opened that are not made yet, in the order they were opened. */
  private readonly unmade = new Map<string, Promise<unknown>>();

  override _make_model(options: IModelOptions & { model_id: string }, serializedState: JSONObject = {}): Promise<WidgetModel> {
    if (!this.opening || namesUnknownModel(serializedState, this as unknown as ManagerInternals)) {
      return super._make_model(options, serializedState);
    }
    void this.loadModelClass(options.model_name, options.model_module, options.model_module_version).catch(() => undefined);
    const made = this.madeSoFar.then(() => super._make_model(options, serializedState));
    const settled = made.then(
      () => void this.unmade.delete(options.model_id),
      () => void this.unmade.delete(options.model_id),
    );
    this.unmade.set(options.model_id, settled);
    this.madeSoFar = settled;
    return made;
  }

  /**
   * Runs `deliver` once every model the server opened before now is made: at
   * once if none waits. A message for a model still being made (`commId`) does
   * not wait for that model itself: its comm holds it until the model listens,
   * as before any view or later model sees the model (anywidget's plotly
   * figure reads the data an update right after its comm_open brings).
   */
  afterOpened(deliver: () => void, commId?: string): void {
    const waits = [...this.unmade].filter(([id]) => id !== commId).map(([, settled]) => settled);
    if (waits.length === 0) {
      deliver();
      return;
    }
    void Promise.all(waits).then(() => {
      try {
        deliver();
      } catch (error) {
        console.error('jupyter_bridge: a message could not be delivered', error);
      }
    });
  }

  /** Shows a view in `element`; a view that failed to build shows the error instead. */
  async display_view(view: Promise<DOMWidgetView> | DOMWidgetView, element: HTMLElement): Promise<void> {
    let shown: DOMWidgetView;
    try {
      shown = await view;
    } catch (error) {
      const ErrorModel = base.createErrorWidgetModel(error, 'Could not create a view of this widget');
      shown = new base.ErrorWidgetView({ model: new ErrorModel() });
      shown.render();
    }
    Widget.attach(shown.luminoWidget, element);
    this.views.add(shown);
    shown.once('remove', () => this.views.delete(shown));
  }

  /**
   * Where a widget's relative URLs point (a texture's `img/x.png`): the app's
   * `files/`, which serves a notebook's folder's media, as Jupyter resolves them
   * against the notebook's folder. null: left to the browser (a static page).
   */
  filesUrl: string | null = null;

  override resolveUrl(url: string): Promise<string> {
    const relative = url !== '' && !/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(url);
    return Promise.resolve(relative && this.filesUrl !== null ? new URL(url, this.filesUrl).href : url);
  }

  /**
   * The session's comms: a model the page makes itself is opened on the server, which
   * makes its widget if the session allows the class. null in a static page, where it
   * stays in the page.
   */
  comms: Comms | null = null;

  protected override _create_comm(
    targetName: string,
    modelId?: string,
    data?: JSONObject,
    metadata?: JSONObject,
    buffers?: ArrayBuffer[] | ArrayBufferView[],
  ): Promise<IClassicComm> {
    const commId = modelId ?? uuid();
    if (this.comms === null) {
      return Promise.resolve(new Comm(commId, targetName, null));
    }
    return Promise.resolve(this.comms.openedByPage(commId, targetName, data ?? {}, metadata, buffers));
  }

  protected override _get_comm_info(): Promise<{}> {
    return Promise.resolve({});
  }

  /**
   * The class of a model or view: the standard widgets are bundled (Output's
   * on demand), other packages come from the module loader. A widget whose
   * front-end package the server does not have gets a placeholder naming the
   * package, instead of an error icon; the rest of the page is unaffected.
   */
  protected override async loadClass(className: string, moduleName: string, moduleVersion: string): Promise<WidgetClass> {
    try {
      const module = await this.loadModule(moduleName, moduleVersion, className);
      const found = module[className];
      if (found === undefined) {
        throw new Error(`Class ${className} not found in module ${moduleName}@${moduleVersion}`);
      }
      return found as WidgetClass;
    } catch (error) {
      console.error(`jupyter_bridge: ${String(error)}`);
      return className.endsWith('View') ? missingView(moduleName, className, this.comms === null) : MissingModel;
    }
  }

  private loadModule(moduleName: string, moduleVersion: string, className: string): Promise<Record<string, unknown>> {
    // The ipywidgets 8 protocol names base 2.x, controls 2.x and output 1.x.
    switch (moduleName) {
      case '@jupyter-widgets/base':
        return major(moduleVersion) < 2 ? Promise.reject(new Error(IPYWIDGETS_7)) : Promise.resolve(base);
      case '@jupyter-widgets/controls':
        if (major(moduleVersion) < 2) {
          return Promise.reject(new Error(IPYWIDGETS_7));
        }
        // The controls most pages use are bundled (controls.ts); the others load with the whole package.
        return Object.hasOwn(controls, className) ? Promise.resolve(controls) : loadControls();
      case '@jupyter-widgets/output':
        this.outputModule ??= loadOutput().then(
          (output) => output.outputWidgets(this),
          (error: unknown) => {
            this.outputModule = null; // the next Output widget tries again
            throw error;
          },
        );
        return this.outputModule;
      default:
        // A library's views may use `$el` as jQuery: its classes come once jQuery is there.
        return Promise.all([this.loader(moduleName, moduleVersion), loadJQuery()]).then(
          ([module]) => module as Record<string, unknown>,
        );
    }
  }

  /**
   * Forgets every model at once, closing each without telling the server (its
   * session is gone), so the models of a fresh session arrive to an empty manager.
   */
  forgetAll(): void {
    const internals = this as unknown as ManagerInternals;
    const models = Object.values(internals._models);
    internals._models = Object.create(null) as ManagerInternals['_models'];
    for (const model of models) {
      void model.then(
        (found) => found.close(true),
        () => undefined,
      );
    }
  }

  private async redrawHtmlDescriptions(): Promise<void> {
    const models = await Promise.all(Object.values((this as unknown as ManagerInternals)._models));
    for (const model of models) {
      if (model.get('description_allow_html') === true) {
        model.trigger('change:description', model, model.get('description'));
      }
    }
  }
}

/** ManagerBase keeps its models here; there is no public list of them. */
interface ManagerInternals {
  _models: Record<string, Promise<WidgetModel>>;
}

/** Whether a model's state names a model the manager does not have yet (it is opened later). */
function namesUnknownModel(value: unknown, manager: ManagerInternals): boolean {
  if (typeof value === 'string') {
    return value.startsWith(MODEL_REF_PREFIX) && manager._models[value.slice(MODEL_REF_PREFIX.length)] === undefined;
  }
  if (Array.isArray(value)) {
    return value.some((item) => namesUnknownModel(item, manager));
  }
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer)) {
    return Object.values(value).some((item) => namesUnknownModel(item, manager));
  }
  return false;
}

/** The major version a semver range asks for: '^2.0.0', '~1.2.0' and '2.0.0' alike. */
function major(range: string): number {
  const match = /\d+/.exec(range);
  return match === null ? Number.NaN : Number(match[0]);
}

class MissingModel extends DOMWidgetModel {}

function missingView(moduleName: string, className: string, staticPage: boolean): typeof DOMWidgetView {
  // A static page carries AMD modules only: a package loaded from its
  // JupyterLab extension fetches its chunks from a server.
  const why = staticPage
    ? 'which this static page does not carry: serve the app (jupyter-bridge serve) to see it.'
    : 'which this server does not have: install that package where the server runs.';
  return class MissingView extends DOMWidgetView {
    override render(): void {
      this.el.classList.add('jb-missing-widget');
      this.el.textContent = `This widget needs the front end of the package "${moduleName}" (${className}), ${why}`;
    }
  };
}

/** A widget as the page can name it before its code has loaded. */
export interface WidgetDescription {
  module: string;
  model: string;
  /** The addresses its ES module code (anywidget's `_esm`) imports from the network. */
  urls: string[];
}

const IMPORTED_URL = /(?:\bfrom|\bimport)\s*\(?\s*["'](https?:\/\/[^"']+)["']/g;

function describeWidget(data: JSONObject | undefined): WidgetDescription {
  const state = (data?.state ?? {}) as Record<string, unknown>;
  const text = (name: string) => (typeof state[name] === 'string' ? (state[name] as string) : '');
  const esm = text('_esm');
  const urls = [...new Set([...esm.matchAll(IMPORTED_URL)].map((match) => match[1]))].slice(0, 3);
  // anywidget names the Python class (`module.Class`); other widgets, their model class.
  const model = (text('_anywidget_id') || text('_model_name') || text('_view_name')).split('.').pop() ?? '';
  return { module: text('_view_module') || text('_model_module'), model, urls };
}
