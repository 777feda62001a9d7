/**
 * The little the server's own pages (the index, an error page) do in the browser.
 *
 * A classic script loaded from the server's static files rather than inline
 * code, so that a Content-Security-Policy of `script-src 'self'` in front of the
 * server leaves them working. Each behaviour starts only where its markup is.
 */

/** The index's search box: every word typed must be in a card's title, path or description. */
function filterCards(input: HTMLInputElement): void {
  const items = document.querySelectorAll<HTMLElement>('.jb-apps li');
  input.addEventListener('input', () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    items.forEach((item) => {
      const text = item.dataset.jbSearch ?? '';
      item.hidden = !words.every((word) => text.includes(word));
    });
  });
}

/** Development mode's error page: load the app again once the server has reloaded its files. */
function reloadWhenFixed(mark: HTMLElement): void {
  const url = mark.dataset.jbReloadUrl as string;
  const version = mark.dataset.jbAppVersion;
  const poll = (): void => {
    fetch(url, { cache: 'no-store' })
      .then((answer) => (answer.ok ? (answer.json() as Promise<{ version: number }>) : null))
      .then(
        (now) => {
          if (now && String(now.version) !== version) {
            location.reload();
          } else {
            setTimeout(poll, 500);
          }
        },
        () => setTimeout(poll, 2000),
      );
  };
  poll();
}

const search = document.querySelector<HTMLInputElement>('.jb-search');
if (search) {
  filterCards(search);
}
const reload = document.querySelector<HTMLElement>('[data-jb-reload-url]');
if (reload) {
  reloadWhenFixed(reload);
}
