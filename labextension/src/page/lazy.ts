// The parts of the page client that load on demand, as separate chunks. The
// standalone build (a single classic script) swaps this module for eager.ts.

export const loadOutput = () => import('./output');
export const loadSanitizer = () => import('./sanitizer');
export const loadFederated = () => import('./federated');
export const loadMath = () => import('./math');
/** The whole of @jupyter-widgets/controls: the controls controls.ts leaves out, and the rest again. */
export const loadControls = () => import('@jupyter-widgets/controls');
/** The Output widget's base classes, which third-party modules may extend. */
export const loadOutputPackage = () => import('@jupyter-widgets/output');
