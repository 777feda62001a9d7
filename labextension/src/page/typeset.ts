// Math in widgets, as JupyterLab and Voila show it: HTMLMath values, `$…$` and
// `\(…\)` in labels and descriptions, and the page's markdown and LaTeX outputs
// (which the server sends as HTMLMath). ipywidgets' views hand each such element
// to the manager's `_rendermime.latexTypesetter`; KaTeX (math.ts, its stylesheet and
// fonts) loads with the first element that holds math, so a page without any never loads it.

import { loadMath } from './lazy';
import { loadStyles } from './styles';

const MATH = /\$|\\\(|\\\[|\\begin\{/;

/** Typesets `element`'s math, now or once KaTeX has loaded. */
export function typesetMath(element: HTMLElement): void {
  if (!MATH.test(element.textContent ?? '')) {
    return;
  }
  Promise.all([loadMath(), loadStyles('math')])
    .then(([math]) => math.typeset(element))
    .catch((error: unknown) => console.error('jupyter_bridge: could not typeset math', error));
}

/** What ipywidgets' views look up on their manager to typeset math (`_rendermime.latexTypesetter`). */
export const latexRenderMime = { latexTypesetter: { typeset: typesetMath } };
