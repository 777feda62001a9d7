// jQuery, loaded with the first third-party widget package instead of before the first paint.
//
// Backbone and ipywidgets import jQuery for one thing: a view's `$el`, its element
// as a jQuery object. No standard control calls jQuery on it, but widget libraries
// may (`this.$el.addClass(...)`), as they can in JupyterLab. Evaluating jQuery
// costs a page about 15 ms on its way to the first paint (Sizzle's set-up probes
// the document), so build.mjs resolves their `import 'jquery'` to this module:
//
// - `$(element)` wraps the element in a stand-in holding what ipywidgets reads of
//   a jQuery object (`[0]`) until jQuery is loaded, then returns jQuery's object;
// - `$el` is an accessor on WidgetView.prototype (queryOnDemand) that turns a
//   stand-in into jQuery's object once jQuery is loaded, when it is read;
// - the manager loads jQuery before it hands out the classes of any package it
//   did not bundle (manager.ts), so library code only ever sees jQuery objects.

let jquery: JQueryStatic | null = null;
let loading: Promise<JQueryStatic> | null = null;

/** What ipywidgets reads of an element's jQuery object, until jQuery is loaded. */
class Stand {
  readonly length = 1;
  [index: number]: Element;

  constructor(element: Element) {
    this[0] = element;
  }
}

/** jQuery, loaded once; later calls share the first load. */
export function loadJQuery(): Promise<JQueryStatic> {
  loading ??= import('jquery').then(
    (module) => (jquery = module.default),
    (error: unknown) => {
      loading = null; // a later package tries again
      throw error;
    },
  );
  return loading;
}

/** `$` as Backbone and ipywidgets call it: `$(element)` and `value instanceof $`. */
function query(target: unknown): unknown {
  if (jquery !== null) {
    return jquery(target instanceof Stand ? target[0] : (target as Element));
  }
  if (target instanceof Stand) {
    return target;
  }
  if (target instanceof Element) {
    return new Stand(target);
  }
  throw new Error(`jupyter_bridge: jQuery is not loaded yet, so $(${String(target)}) cannot be made; call loadJQuery() first`);
}

Object.defineProperty(query, Symbol.hasInstance, {
  value: (value: unknown): boolean => (jquery !== null ? value instanceof jquery : value instanceof Stand),
});

export default query;

const QUERY = Symbol('jupyter_bridge.$el');

type Holder = { [QUERY]?: unknown };

/** Makes `$el` of views of `prototype` an accessor that reads a stand-in as jQuery's object once jQuery is loaded. */
export function queryOnDemand(prototype: object): void {
  Object.defineProperty(prototype, '$el', {
    configurable: true,
    get(this: Holder): unknown {
      const value = this[QUERY];
      if (value instanceof Stand && jquery !== null) {
        return (this[QUERY] = jquery(value[0]));
      }
      return value;
    },
    set(this: Holder, value: unknown): void {
      this[QUERY] = value;
    },
  });
}
