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
  update(ids: readonly string[]): Promise<void> {
    const wanted = new Set(ids);
    for (const [id, shown] of this.shown) {
      if (!wanted.has(id)) {
        this.shown.delete(id);
        this.hide(shown);
      }
    }
    const displayed: Promise<unknown>[] = [];
    for (const id of wanted) {
      let shown = this.shown.get(id);
      if (shown === undefined) {
        shown = this.show(id);
        this.shown.set(id, shown);
      }
      displayed.push(shown.view);
    }
    this.arrange([...wanted]);
    return Promise.all(displayed).then(() => undefined);
  }

  private show(id: string): Shown {
    let element = document.querySelector<HTMLElement>(`[data-jb-root-id="${CSS.escape(id)}"]`);
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
