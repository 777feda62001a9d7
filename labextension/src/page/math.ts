// KaTeX, loaded on demand by typeset.ts with the first text that holds math.

import renderMathInElement from 'katex/contrib/auto-render';

/** Delimiters as JupyterLab reads them: display math first, then inline `$…$` and `\(…\)`. */
const DELIMITERS = [
  { left: '$$', right: '$$', display: true },
  { left: '\\[', right: '\\]', display: true },
  { left: '$', right: '$', display: false },
  { left: '\\(', right: '\\)', display: false },
  { left: '\\begin{equation}', right: '\\end{equation}', display: true },
  { left: '\\begin{align}', right: '\\end{align}', display: true },
];

/** Typesets the math in `element`'s text; a formula KaTeX cannot read stays as written, in red. */
export function typeset(element: HTMLElement): void {
  renderMathInElement(element, {
    delimiters: DELIMITERS,
    throwOnError: false,
    ignoredTags: ['script', 'noscript', 'style', 'textarea', 'pre', 'code', 'option'],
  });
}
