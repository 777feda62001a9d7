// The widget manager of a page. The manager module is imported directly: the
// html-manager package index also pulls in the embedding helpers (and ajv).

import { HTMLManager } from '@jupyter-widgets/html-manager/lib/htmlmanager';
import { DOMWidgetModel, DOMWidgetView, uuid, type IClassicComm } from '@jupyter-widgets/base';
import { Comm } from './comm';
import type { CommOpen } from './protocol';

type CommOpenMsg = Parameters<HTMLManager['handle_comm_open']>[1];
export type ModuleLoader = (moduleName: string, moduleVersion: string) => Promise<unknown>;

export class BridgeManager extends HTMLManager {
  constructor(loader: ModuleLoader) {
    super({ loader });
  }

  /**
   * Creates the model of a comm the server opened.
   *
   * Call in arrival order and without awaiting in between: the manager
   * registers the model before its first await, so a container model can
   * find children whose classes are still loading.
   */
  open(comm: Comm, message: CommOpen, buffers: DataView[]): void {
    const msg = {
      content: { comm_id: message.comm_id, target_name: message.target_name, data: message.data },
      metadata: message.metadata ?? {},
      buffers,
    };
    this.handle_comm_open(comm, msg as unknown as CommOpenMsg).catch((error: unknown) => {
      console.error(`jupyter_bridge: could not create the model of comm ${message.comm_id}`, error);
    });
  }

  /** A comm the page itself would open stays local: the server refuses comm_open from a page. */
  override _create_comm(targetName: string, modelId?: string): Promise<IClassicComm> {
    return Promise.resolve(new Comm(modelId ?? uuid(), targetName, null));
  }

  override _get_comm_info(): Promise<{}> {
    return Promise.resolve({});
  }

  /**
   * A widget whose front-end package the server does not have gets a
   * placeholder naming the package, instead of an error icon; the rest of the
   * page is unaffected.
   */
  protected override loadClass(className: string, moduleName: string, moduleVersion: string): Promise<any> {
    return super.loadClass(className, moduleName, moduleVersion).catch((error: unknown) => {
      console.error(`jupyter_bridge: ${String(error)}`);
      return className.endsWith('View') ? missingView(moduleName, className) : MissingModel;
    });
  }
}

class MissingModel extends DOMWidgetModel {}

function missingView(moduleName: string, className: string): typeof DOMWidgetView {
  return class MissingView extends DOMWidgetView {
    override render(): void {
      this.el.classList.add('jb-missing-widget');
      this.el.textContent =
        `This widget needs the front end of the package "${moduleName}" (${className}), ` +
        'which this server does not have: install that package where the server runs.';
    }
  };
}
