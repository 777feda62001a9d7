// The document's root widgets on the page: one view per root model id.

import type { DOMWidgetModel, DOMWidgetView } from '@jupyter-widgets/base';
import type { BridgeManager } from './manager';

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

  private async display(id: string, element: HTMLElement): Promise<DOMWidgetView> {
    const model = (await this.manager.get_model(id)) as DOMWidgetModel;
    const view = await this.manager.create_view<DOMWidgetView>(model);
    await this.manager.display_view(view, element);
    return view;
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
