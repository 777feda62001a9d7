// The document's root widgets on the page: one view per root model id.

import type { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';
import type { BridgeManager, WidgetDescription } from './manager';

/** How long a root's view may take to build before the page says what it waits for. */
export const LOAD_BOUND_MS = 15_000;

/** The box shown in place of a widget whose view has not been built within the bound. */
function notLoaded(widget: WidgetDescription): HTMLElement {
  const box = document.createElement('div');
  box.className = 'jb-not-loaded';
  box.setAttribute('role', 'alert');
  const seconds = Math.round(LOAD_BOUND_MS / 1000);
  const name = widget.model ? `${widget.model} of ${widget.module}` : 'This widget';
  let text = `${name} has not loaded after ${seconds} s.`;
  if (widget.urls.length > 0) {
    text += ` Its code imports ${widget.urls.join(', ')}, which this browser could not reach:`;
    text += ' the page needs it from the internet. Use the library\'s offline mode if it has one.';
  } else {
    text += ' Its code is still loading, or failed without saying so (see the browser console).';
  }
  box.textContent = text;
  return box;
}

interface Shown {
  element: HTMLElement;
  /** True when the page template did not provide the element, so it is ours to move and remove. */
  ours: boolean;
  view: Promise<DOMWidgetView | null>;
}

export class Roots {
  private shown = new Map<string, Shown>();

  constructor(
    private readonly manager: BridgeManager,
    private readonly container: HTMLElement,
  ) {}

  /**
   * Shows `ids` in order; resolves when each is displayed (or has failed).
   * A root shown before keeps its view: it is moved, never rendered again.
   */
  update(ids: readonly string[], names: Readonly<Record<string, string>> = {}): Promise<void> {
    const wanted = new Set(ids);
    for (const [id, shown] of this.shown) {
      if (!wanted.has(id)) {
        this.shown.delete(id);
        this.hide(shown);
      }
    }
    const displayed: Promise<unknown>[] = [];
    for (const [index, id] of [...wanted].entries()) {
      let shown = this.shown.get(id);
      if (shown === undefined) {
        shown = this.show(id, index, names[id]);
        this.shown.set(id, shown);
      }
      displayed.push(shown.view);
    }
    this.arrange([...wanted]);
    return Promise.all(displayed).then(() => undefined);
  }

  private show(id: string, index: number, name: string | undefined): Shown {
    let element = this.placeholder(id, index, name);
    const ours = element === null;
    if (element === null) {
      element = document.createElement('div');
      element.className = 'jb-root';
      element.dataset.jbModelId = id;
      // Attach before displaying: the view cannot be attached to a detached host.
      this.container.appendChild(element);
    }
    const host = element;
    const view = this.display(id, host).catch((error: unknown) => {
      console.error(`jupyter_bridge: could not display root widget ${id}`, error);
      host.textContent = `This widget could not be displayed: ${String(error)}`;
      return null;
    });
    return { element, ours, view };
  }

  /**
   * The template's element for this root, if any: found by model id, or, when the
   * session was recreated in another process (new ids, same app), by the root's
   * name or position. A placeholder already holding a root is not reused.
   */
  private placeholder(id: string, index: number, name: string | undefined): HTMLElement | null {
    const selectors = [`[data-jb-root-id="${CSS.escape(id)}"]`];
    if (name !== undefined) {
      selectors.push(`[data-jb-root-name="${CSS.escape(name)}"]`);
    }
    selectors.push(`[data-jb-root-index="${index}"]`);
    const taken = new Set([...this.shown.values()].map((shown) => shown.element));
    for (const selector of selectors) {
      const element = document.querySelector<HTMLElement>(selector);
      if (element !== null && !taken.has(element)) {
        return element;
      }
    }
    return null;
  }

  /**
   * Displays root `id` in `element`. A view still not built after LOAD_BOUND_MS (its
   * library's code comes from an address that does not answer) gets a box saying
   * so, and the page is ready without it; should the view come after all, it
   * takes the box's place.
   */
  private async display(id: string, element: HTMLElement): Promise<DOMWidgetView | null> {
    const built = (async () => {
      const model = (await this.manager.get_model(id)) as DOMWidgetModel;
      return this.manager.create_view<DOMWidgetView>(model);
    })();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), LOAD_BOUND_MS);
    });
    const view = await Promise.race([built, bound]);
    clearTimeout(timer);
    if (view !== null) {
      await this.manager.display_view(view, element);
      this.watchImports(id, view, element);
      return view;
    }
    const box = notLoaded(this.manager.describe(id));
    element.append(box);
    void built.then(
      async (late) => {
        box.remove();
        await this.manager.display_view(late, element);
      },
      () => undefined,
    );
    return null;
  }

  /**
   * A view whose code imports from the network (anywidget's `_esm`) draws once those
   * imports arrive: still empty after the bound, it gets the box, which goes when it draws.
   */
  private watchImports(id: string, view: DOMWidgetView, element: HTMLElement): void {
    const widget = this.manager.describe(id);
    if (widget.urls.length === 0) {
      return;
    }
    setTimeout(() => {
      if (view.el.childNodes.length > 0 || !view.el.isConnected) {
        return;
      }
      const box = notLoaded(widget);
      element.append(box);
      const drawn = new MutationObserver(() => {
        drawn.disconnect();
        box.remove();
      });
      drawn.observe(view.el, { childList: true, characterData: true, subtree: true });
    }, LOAD_BOUND_MS);
  }

  private hide(shown: Shown): void {
    void shown.view.then((view) => {
      view?.remove();
      if (shown.ours) {
        shown.element.remove();
      }
    });
  }

  /** Puts the root elements this page created into `ids` order, moving only when needed. */
  private arrange(ids: string[]): void {
    const ordered = ids.flatMap((id) => {
      const shown = this.shown.get(id)!;
      return shown.ours ? [shown.element] : [];
    });
    const ours = new Set(ordered);
    const current = [...this.container.children].filter((child) => ours.has(child as HTMLElement));
    if (ordered.some((element, i) => element !== current[i])) {
      ordered.forEach((element) => this.container.appendChild(element));
    }
  }
}
