// The Output widget, loaded with the first one a page shows: it renders what
// Python printed or displayed through JupyterLab's output area and rendermime
// registry, which the rest of the page does not need.

import { OutputModel, OutputView } from '@jupyter-widgets/html-manager/lib/output';
import { WIDGET_MIMETYPE, WidgetRenderer } from '@jupyter-widgets/html-manager/lib/output_renderers';
import { RenderMimeRegistry, standardRendererFactories } from '@jupyterlab/rendermime';
import type { BridgeManager } from './manager';

type HtmlManager = ConstructorParameters<typeof WidgetRenderer>[1];

/** The Output widget's classes, once `manager` has the registry they render with. */
export function outputWidgets(manager: BridgeManager): Record<string, unknown> {
  const registry = new RenderMimeRegistry({ initialFactories: standardRendererFactories });
  // Widgets displayed inside an Output widget are views of this page's models.
  registry.addFactory(
    {
      safe: false,
      mimeTypes: [WIDGET_MIMETYPE],
      createRenderer: (options) => new WidgetRenderer(options, manager as unknown as HtmlManager),
    },
    0,
  );
  manager.renderMime = registry;
  return { OutputModel, OutputView };
}
