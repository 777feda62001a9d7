// Where the Jupyter server extension serves an app, and how the panel's page
// proves who the user is.

import { URLExt } from '@jupyterlab/coreutils';
import type { ServerConnection } from '@jupyterlab/services';

/** `{base_url}bridge/apps/<path>`: the page of the app at `path` (relative to Jupyter's root). */
export function appUrl(path: string, settings: ServerConnection.ISettings, token = ''): string {
  const url = URLExt.join(settings.baseUrl, 'bridge', 'apps', URLExt.encodeParts(path));
  return token ? `${url}?token=${encodeURIComponent(token)}` : url;
}

/**
 * The token an app page must carry in its URL: none when the browser's cookies
 * already log it in to the server.
 *
 * JupyterLab itself sends the token in an Authorization header, which an iframe
 * cannot do; the server sets its login cookie the first time the token is used,
 * so a same-origin page normally needs nothing more. Only when a plain request
 * (cookies only) is refused does the page get `?token=` (the server removes it
 * from what the app sees).
 */
export async function tokenForPages(settings: ServerConnection.ISettings): Promise<string> {
  const token = settings.token;
  if (!token) {
    return '';
  }
  try {
    const response = await fetch(URLExt.join(settings.baseUrl, 'api', 'me'), {
      credentials: 'same-origin',
      cache: 'no-store',
    });
    if (response.ok) {
      return '';
    }
  } catch {
    // Another origin without CORS, or the network: cookies cannot be relied on.
  }
  return token;
}

/** Whether saving `saved` changes the app at `app` (the file itself, or any file under a directory app). */
export function appCovers(app: string, saved: string): boolean {
  return saved === app || saved.startsWith(`${app.replace(/\/+$/, '')}/`);
}

/** `path` after the file or directory `from` was renamed to `to`; `null` if it was not affected. */
export function renamedPath(path: string, from: string, to: string): string | null {
  if (path === from) {
    return to;
  }
  return appCovers(from, path) ? to + path.slice(from.length) : null;
}

/** Files "Open as App" offers to run: scripts and notebooks (directories are offered from the file browser). */
export function isAppFile(path: string): boolean {
  return /\.(py|ipynb)$/i.test(path);
}
