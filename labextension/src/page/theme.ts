/**
 * The page's theme, told to third-party widgets the way JupyterLab tells them.
 *
 * The colours follow `data-jb-theme` on the root element (light, dark, or auto:
 * the browser's prefers-color-scheme) through CSS alone. Some libraries also
 * ask the page which theme it is before they draw on a canvas (ipydatagrid reads
 * `document.body.dataset.jpThemeLight`), as JupyterLab's theme manager sets it on
 * `<body>`: so the page sets the same attributes, and keeps them true when the
 * browser's preference changes.
 */
export function followTheme(): void {
  const root = document.documentElement;
  // The spinner went out before the app chose a theme: the page's own choice wins.
  const chosen = document.getElementById('jupyter-bridge-roots')?.dataset.jbPageTheme;
  if (chosen) {
    root.dataset.jbTheme = chosen;
  }
  const prefersDark = window.matchMedia('(prefers-color-scheme: dark)');
  const mark = (): void => {
    const theme = root.dataset.jbTheme ?? 'auto';
    const dark = theme === 'dark' || (theme === 'auto' && prefersDark.matches);
    document.body.dataset.jpThemeLight = String(!dark);
    document.body.dataset.jpThemeName = dark ? 'JupyterLab Dark' : 'JupyterLab Light';
  };
  mark();
  prefersDark.addEventListener('change', mark);
}
