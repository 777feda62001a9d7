// The stylesheets a page loads only when it needs them: Font Awesome's (icons.css,
// 82 kB), once the page is interactive, and KaTeX's (math.css) with the first math. In
// the page's one stylesheet they were two thirds of the CSS parsed before the first
// paint of every page. The server names their addresses in the page's config; a
// static page carries every rule inline and names none.

export interface Styles {
  icons?: string;
  math?: string;
}

let addresses: Styles = {};
const loads = new Map<string, Promise<void>>();

/** Where the page's stylesheets are (the config's `styles`). */
export function setStyles(styles: Styles | undefined): void {
  addresses = styles ?? {};
}

/**
 * Loads one of the stylesheets, once; settles when it has loaded (or failed:
 * the page works without it). Its rules go before the page's stylesheet, so
 * that the page's rules still win where both set the same property.
 */
export function loadStyles(name: keyof Styles): Promise<void> {
  const href = addresses[name];
  if (href === undefined) {
    return Promise.resolve();
  }
  let loaded = loads.get(href);
  if (loaded === undefined) {
    loaded = new Promise<void>((resolve) => {
      const link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = href;
      link.onload = () => resolve();
      link.onerror = () => {
        console.error(`jupyter_bridge: could not load ${href}`);
        resolve();
      };
      const first = document.head.querySelector('link[rel="stylesheet"]');
      if (first !== null) {
        first.before(link);
      } else {
        document.head.append(link);
      }
    });
    loads.set(href, loaded);
  }
  return loaded;
}
