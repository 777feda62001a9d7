// Widget packages that install only a JupyterLab extension (ipyevents, and
// many newer ones) ship no AMD module: their front end is a webpack "federated"
// container, share/jupyter/labextensions/<name>/static/remoteEntry.<hash>.js.
// JupyterLab loads such a container, gives it the shared packages it asks for
// (above all @jupyter-widgets/base: every widget class must extend the page's
// own), and runs its plugin, which registers the package's widget classes with
// the widget registry. This module does the same for a page: the server
// answers `<name>/index.js` of such a package with a small AMD module that
// calls the function made here (see WidgetModuleHandler).

import * as base from '@jupyter-widgets/base';
import { version as baseVersion } from '@jupyter-widgets/base/package.json';
import * as controls from '@jupyter-widgets/controls';
import { version as controlsVersion } from '@jupyter-widgets/controls/package.json';
import * as output from '@jupyter-widgets/output';
import { version as outputVersion } from '@jupyter-widgets/output/package.json';
import * as coreutils from '@lumino/coreutils';
import { version as coreutilsVersion } from '@lumino/coreutils/package.json';

/** A webpack module-federation container, as remoteEntry.js leaves it in `_JUPYTERLAB`. */
interface Container {
  init(scope: ShareScope): Promise<void> | void;
  get(module: string): Promise<() => unknown>;
}

type ShareScope = Record<string, Record<string, { get: () => Promise<() => unknown>; from: string; eager: boolean; loaded: number }>>;

interface Plugin {
  id?: string;
  requires?: unknown[];
  optional?: unknown[];
  activate(app: unknown, ...services: unknown[]): unknown;
}

interface WidgetExports {
  name: string;
  version: string;
  exports: unknown;
}

/** The page's own copies of the packages a widget package must share with it, by npm version. */
const SHARED: [string, string, unknown][] = [
  ['@jupyter-widgets/base', baseVersion, base],
  ['@jupyter-widgets/controls', controlsVersion, controls],
  ['@jupyter-widgets/output', outputVersion, output],
  // Some containers take it from the page and carry no copy (pythreejs's); the
  // page has it already, for the widget base classes.
  ['@lumino/coreutils', coreutilsVersion, coreutils],
];
// The rest of Lumino is not offered: a container falls back to its own copy,
// and sharing it would keep all of Lumino in every page instead of what the
// controls use.

let shareScope: ShareScope | null = null;

function scope(): ShareScope {
  if (shareScope === null) {
    shareScope = {};
    for (const [name, version, module] of SHARED) {
      shareScope[name] = { [version]: { get: () => Promise.resolve(() => module), from: 'jupyter-bridge', eager: true, loaded: 1 } };
    }
  }
  return shareScope;
}

/** What registerWidget was given, by package name; filled by each package's plugin. */
const registered = new Map<string, unknown>();
/** One load per package, shared by every widget of it. */
const loading = new Map<string, Promise<unknown>>();

/**
 * The function the server's AMD module for a labextension-only package calls:
 * `load(name, entry)` resolves to that package's widget module (its classes).
 * `entry` is the container's file, relative to the package's folder.
 */
export function federatedLoader(modulesUrl: string): (name: string, entry: string) => Promise<unknown> {
  return (name, entry) => {
    let module = loading.get(name);
    if (module === undefined) {
      module = loadPackage(name, new URL(`${name}/${entry}`, modulesUrl).href);
      loading.set(name, module);
      module.catch(() => loading.delete(name)); // a later widget may try again
    }
    return module;
  };
}

async function loadPackage(name: string, url: string): Promise<unknown> {
  const container = await loadContainer(name, url);
  await container.init(scope());
  let plugins: Plugin[] = [];
  try {
    const factory = await container.get('./extension');
    const exported = factory() as { default?: Plugin | Plugin[] } & Plugin;
    const found = exported.default ?? exported;
    plugins = Array.isArray(found) ? found : [found];
  } catch {
    // A container without a plugin: its package's main module is the widget module.
  }
  const registry = { registerWidget: (widget: WidgetExports) => registered.set(widget.name, widget.exports) };
  for (const plugin of plugins) {
    if (typeof plugin?.activate !== 'function') {
      continue;
    }
    // Widget plugins ask for the widget registry; nothing else a page has to give.
    const wants = (token: unknown) => (token === base.IJupyterWidgetRegistry ? registry : null);
    const services = [...(plugin.requires ?? []), ...(plugin.optional ?? [])].map(wants);
    if (!services.includes(registry)) {
      continue;
    }
    await plugin.activate({}, ...services);
  }
  let exports = registered.get(name);
  if (exports === undefined) {
    exports = (await container.get('./index'))();
  }
  // registerWidget takes the module, or a function that returns it (or a promise of it).
  return typeof exports === 'function' ? await (exports as () => unknown)() : exports;
}

function loadContainer(name: string, url: string): Promise<Container> {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = url;
    script.onload = () => {
      const container = (window as unknown as { _JUPYTERLAB?: Record<string, Container> })._JUPYTERLAB?.[name];
      if (container === undefined) {
        reject(new Error(`${url} did not define the JupyterLab extension ${name}`));
      } else {
        resolve(container);
      }
    };
    script.onerror = () => {
      script.remove();
      reject(new Error(`the JupyterLab extension file ${url} did not load`));
    };
    document.head.appendChild(script);
  });
}
