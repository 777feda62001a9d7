/**
 * The page's theme, told to third-party widgets the way JupyterLab tells them.
 *
 * `data-jb-theme` on the root element says light, dark, or auto (the browser's
 * prefers-color-scheme). This resolves it to one answer, kept true when the
 * browser's preference changes: `data-jb-dark` on the root, which the page's
 * dark `--jp-*` values hang on, and JupyterLab's own `<body>` attributes, which
 * some libraries read before they draw on a canvas (ipydatagrid reads
 * `document.body.dataset.jpThemeLight`).
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
    root.dataset.jbDark = String(dark);
    document.body.dataset.jpThemeLight = String(!dark);
    document.body.dataset.jpThemeName = dark ? 'JupyterLab Dark' : 'JupyterLab Light';
  };
  mark();
  prefersDark.addEventListener('change', mark);
}
