// Loads third-party widget front-ends (bqplot, anywidget, ...). Widget packages
// install AMD modules as share/jupyter/nbextensions/<name>/index.js; the server
// serves those folders at `modulesUrl`. RequireJS is fetched on first need only,
// so pages made of standard controls never download it.

import * as base from '@jupyter-widgets/base';
import { loadControls, loadFederated, loadOutputPackage } from './lazy';
import type { ModuleLoader } from './manager';

interface RequireError extends Error {
  requireModules?: string[];
}

interface RequireJS {
  (ids: string[], loaded: (...modules: unknown[]) => void, failed: (error: RequireError) => void): void;
  config(options: object): void;
  undef(id: string): void;
}

type Define = (id: string, deps: string[], factory: () => unknown) => void;

/** The part of RequireJS 2's default context that makes a module's address. */
interface RequireInternals {
  s: { contexts: { _: { nameToUrl(name: string, ext?: string, skipExt?: boolean): string } } };
}

/**
 * The modules bundled here, shared with third-party modules instead of loaded
 * again: with the first third-party module, the whole of the controls (see
 * controls.ts) and Output's base classes load too.
 */
async function shared(): Promise<Record<string, unknown>> {
  const [controls, output] = await Promise.all([loadControls(), loadOutputPackage()]);
  return { '@jupyter-widgets/base': base, '@jupyter-widgets/controls': controls, '@jupyter-widgets/output': output };
}

/** The AMD id of federated.ts's loader, named by the server's modules of labextension-only packages. */
const FEDERATED = '@jupyter-bridge/federated';

/** `name` and `@scope/name` are packages; anything longer is a file inside one. */
const PACKAGE = /^(@[^/]+\/)?[^/@]+$/;

/** Module sources a static page carries (`jupyter-bridge html`), and the module loader's. */
export interface InlineModules {
  modules: Record<string, string>;
  requireJs: string;
}

/**
 * A loader of AMD widget modules from `modulesUrl`, or, in a static page, from
 * the sources it carries: those load through blob: URLs, so a page opened
 * from disk needs no file beside it.
 */
export function amdLoader(modulesUrl: string, requireUrl: string, inline?: InlineModules): ModuleLoader {
  let loading: Promise<RequireJS> | null = null;
  const files: Record<string, string> = {};
  if (inline !== undefined) {
    for (const [id, source] of Object.entries(inline.modules)) {
      files[id] = scriptUrl(source);
    }
    requireUrl = scriptUrl(inline.requireJs);
  }
  return async (name, version) => {
    let req: RequireJS;
    try {
      loading ??= loadRequire(modulesUrl, requireUrl, files);
      req = await loading;
    } catch (error) {
      loading = null; // let a later widget try again
      throw new Error(`Could not load widget package ${name}: ${(error as Error).message}`);
    }
    // Forget a failure (the module and what it missed) so that a later widget
    // of this package can try again: RequireJS never answers a second request
    // of a module whose dependency failed. A package loaded from its JupyterLab extension's container (the server
    // decides: see widget_modules.py) has a module that is a promise of its
    // classes: resolve adopts it.
    try {
      return await new Promise<unknown>((resolve, reject) => {
        req([name], resolve, (error) => {
          [name, ...(error.requireModules ?? [])].forEach((missing) => req.undef(missing));
          reject(error);
        });
      });
    } catch (error) {
      throw new Error(
        `Could not load widget package ${name}@${version} from ${modulesUrl}${name}/index.js: ${(error as Error).message}`,
      );
    }
  };
}

function scriptUrl(source: string): string {
  return URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
}

async function loadRequire(modulesUrl: string, requireUrl: string, files: Record<string, string>): Promise<RequireJS> {
  const [modules] = await Promise.all([shared(), loadRequireScript(requireUrl)]);
  return configure(modulesUrl, files, modules);
}

function loadRequireScript(requireUrl: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // A page template may bring its own RequireJS; use it rather than load a second one.
    if (typeof window.requirejs === 'function') {
      resolve();
      return;
    }
    const script = document.createElement('script');
    script.src = requireUrl;
    script.onload = () => resolve();
    script.onerror = () => {
      script.remove();
      reject(new Error(`the module loader ${requireUrl} did not load`));
    };
    document.head.appendChild(script);
  });
}

function configure(modulesUrl: string, files: Record<string, string>, modules: Record<string, unknown>): RequireJS {
  // Bundles built for the classic Notebook find their fonts and chunks at
  // <body data-base-url>nbextensions/<name>/ (jupyter-vuetify's icon fonts do);
  // without the attribute they ask for "nullnbextensions/...".
  if (document.body.dataset.baseUrl === undefined && modulesUrl.endsWith('nbextensions/')) {
    document.body.dataset.baseUrl = modulesUrl.slice(0, -'nbextensions/'.length);
  }
  const req = window.requirejs as RequireJS;
  req.config({
    baseUrl: modulesUrl,
    waitSeconds: 30,
    // A static page carries its modules' sources: each loads from its blob: URL.
    onNodeCreated(node: HTMLScriptElement, _config: object, id: string) {
      if (Object.hasOwn(files, id)) {
        node.src = files[id];
      }
    },
  });
  // RequireJS looks for package `name` at <baseUrl>name.js; packages keep it in
  // name/index.js. The address is fixed where RequireJS makes it (its context's
  // nameToUrl), not only in the script tag: a module reads it back as
  // `module.uri` to find its own chunks (jupyter-vue loads index-vue-sfc.js
  // beside its index.js), as the classic Notebook's `map` config makes it. That
  // covers packages that depend on packages too.
  const context = (req as unknown as RequireInternals).s.contexts._;
  const nameToUrl = context.nameToUrl.bind(context);
  context.nameToUrl = (name: string, ext?: string, skipExt?: boolean) => {
    const url = nameToUrl(name, ext, skipExt);
    return PACKAGE.test(name) && url === `${modulesUrl}${name}.js` ? `${modulesUrl}${name}/index.js` : url;
  };
  const define = window.define as Define;
  for (const [id, module] of Object.entries(modules)) {
    define(id, [], () => module);
  }
  // The server's module for a package that installs only a JupyterLab extension calls this.
  // (Loaded with the first such package: pages without one never parse it.)
  define(FEDERATED, [], () => (name: string, entry: string) =>
    loadFederated().then((federated) => federated.federatedLoader(modulesUrl)(name, entry)));
  return req;
}

declare global {
  interface Window {
    requirejs?: unknown;
    define?: unknown;
  }
}
