// Stands in for the `sanitize-html` package where the widget manager imports it
// (build.mjs points that import here). The manager sanitizes descriptions with
// `description_allow_html` only; the sanitizer and the HTML and CSS parsers it
// brings are a tenth of the page's code, so they load with the first such
// description. Until then the description is shown as plain text, and the
// manager redraws it once the sanitizer is in.

import { loadSanitizer } from './lazy';

type Sanitize = (dirty: string, options?: object) => string;

let sanitizer: Sanitize | null = null;
let loading: Promise<void> | null = null;
const listeners: Array<() => void> = [];

/** Calls `listener` once the real sanitizer has loaded. */
export function onSanitizerLoaded(listener: () => void): void {
  listeners.push(listener);
}

function load(): void {
  loading ??= loadSanitizer().then(
    (module) => {
      sanitizer = module.default;
      listeners.forEach((listener) => listener());
    },
    (error: unknown) => {
      loading = null; // a later description tries again
      console.error('jupyter_bridge: could not load the HTML sanitizer', error);
    },
  );
}

function escapeHtml(text: string): string {
  const element = document.createElement('span');
  element.textContent = text;
  return element.innerHTML;
}

export default function sanitize(dirty: string, options?: object): string {
  if (sanitizer !== null) {
    return sanitizer(dirty, options);
  }
  load();
  return escapeHtml(dirty);
}
