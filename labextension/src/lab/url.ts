// Where the Jupyter server extension serves an app, and how the panel's page
// proves who the user is.

import { PageConfig, URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

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
 * so a same-origin page normally needs nothing more. Only when a request with
 * cookies alone is refused does the page get `?token=` (the server removes it
 * from what the app sees). The probe is made as JupyterLab makes its requests,
 * without the token: the `_xsrf` cookie goes along as `X-XSRFToken`, which
 * JupyterHub requires before it accepts its login cookie on a script's request
 * (an iframe's navigation needs none), so behind a hub the page URL stays
 * free of the user's token.
 */
export async function tokenForPages(settings: ServerConnection.ISettings): Promise<string> {
  const token = settings.token;
  if (!token) {
    return '';
  }
  try {
    const response = await ServerConnection.makeRequest(
      URLExt.join(settings.baseUrl, 'api', 'me'),
      { credentials: 'same-origin', cache: 'no-store' },
      { ...settings, token: '' },
    );
    if (response.ok) {
      return '';
    }
  } catch {
    // Another origin without CORS, or the network: cookies cannot be relied on.
  }
  return token;
}

/**
 * Whether the server's pages refuse to be framed, even by JupyterLab: JupyterHub
 * sends `frame-ancestors 'none'` with every page of a user's server (JupyterLab's
 * page config then names the hub).
 */
export function framingRefused(): boolean {
  return PageConfig.getOption('hubPrefix') !== '';
}

/** The HTML of the page at `url` of this server, requested as JupyterLab requests its own API. */
export async function fetchPage(url: string, settings: ServerConnection.ISettings): Promise<string> {
  // cache: 'reload', not 'no-store': for 'no-store' JupyterLab adds a cache-busting
  // argument to the URL, which the app would see among its request's arguments.
  const response = await ServerConnection.makeRequest(url, { cache: 'reload', credentials: 'same-origin' }, settings);
  return response.text();
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
