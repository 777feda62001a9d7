"""Pages under a strict Content-Security-Policy, as an operator's proxy may send one.

The policy allows scripts from the server itself and ``blob:`` (anywidget's
``_esm`` modules) only: no inline script, no ``eval``. Every page the server
makes — the index with its search box, an app with controls and an anywidget,
development mode's error page that reloads once the app is fixed, the admin
page — must work
under it, and the browser must report no violation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from support import CHROMIUM, CHROMIUM_ARGS, serving

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")

POLICY = (
    "default-src 'self'; script-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'"
)

SLIDERS = '''
import ipywidgets as w
from jupyter_bridge import curdoc
slider = w.IntSlider(description="N")
label = w.Label("value*2 = 0")
slider.observe(lambda change: setattr(label, "value", f"value*2 = {change['new'] * 2}"), "value")
curdoc().title = "Sliders"
curdoc().add_root(w.VBox([slider, label]))
'''

COUNTER = '''
import anywidget
import traitlets
import ipywidgets as w
from jupyter_bridge import curdoc

class Counter(anywidget.AnyWidget):
    _esm = """
    export default {
      render({ model, el }) {
        const button = document.createElement("button");
        button.className = "csp-counter";
        const show = () => { button.textContent = `count is ${model.get("count")}`; };
        button.addEventListener("click", () => { model.set("count", model.get("count") + 1); model.save_changes(); });
        model.on("change:count", show);
        show();
        el.append(button);
      }
    };
    """
    count = traitlets.Int(0).tag(sync=True)

counter = Counter()
said = w.Label("python saw 0")
counter.observe(lambda change: setattr(said, "value", f"python saw {change['new']}"), "count")
curdoc().add_root(w.VBox([counter, said]))
'''

BROKEN = "raise RuntimeError('not yet')\n"


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("csp_apps")
    (folder / "sliders.py").write_text(SLIDERS)
    (folder / "counter.py").write_text(COUNTER)
    (folder / "broken.py").write_text(BROKEN)
    # More apps than the index lists without its search box.
    for number in range(10):
        (folder / f"extra_{number}.py").write_text(f'"""Extra app number {number}."""\n' + SLIDERS)
    return folder


@pytest.fixture(scope="module")
def server(apps: Path) -> Iterator[str]:
    with serving(*sorted(str(path) for path in apps.glob("*.py")), "--dev", "--admin") as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    """Chromium that lets an intercepted page reach loopback.

    The policy is added to each document by Playwright's interception. Chromium
    treats a document answered that way as coming from the public internet, and
    its local network access checks would then refuse the page's WebSocket to
    localhost: a refusal a page the server (or a proxy) sent itself never gets.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--disable-features=LocalNetworkAccessChecks"]
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A page whose every document arrives with the strict policy; it records violations and errors.

    The tests wait with locators, never wait_for_function: Playwright evaluates
    that predicate with eval in the page, which the policy (rightly) refuses.
    """
    context = browser.new_context()

    def with_policy(route):
        response = route.fetch()
        route.fulfill(response=response, headers={**response.headers, "content-security-policy": POLICY})

    context.route(lambda url: True, lambda route: with_policy(route) if route.request.resource_type == "document"
                  else route.continue_())  # fmt: skip
    context.add_init_script(
        "window.violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " (e) => window.violations.push(`${e.violatedDirective} ${e.blockedURI}`));"
    )
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    yield page
    assert page.evaluate("window.violations") == []
    assert page.errors == []  # type: ignore[attr-defined]
    context.close()


def test_the_index_search_works_without_inline_script(server, page):
    page.goto(server + "/")
    cards = page.locator(".jb-apps li")
    assert cards.count() == 13
    page.locator(".jb-search").fill("number 7")
    expect(page.locator(".jb-apps li:not([hidden])")).to_have_count(1)
    assert "extra_7" in page.locator(".jb-apps li:not([hidden])").inner_text()


def test_an_app_and_its_anywidget_work_under_the_policy(server, page):
    page.goto(server + "/sliders")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
    handle = page.locator(".widget-slider .noUi-handle").first
    handle.focus()
    handle.press("ArrowRight")
    expect(page.get_by_text("value*2 = ")).to_have_text("value*2 = 2")

    page.goto(server + "/counter")
    page.locator(".csp-counter").click()
    expect(page.get_by_text("python saw")).to_have_text("python saw 1")


def test_the_development_error_page_reloads_once_the_app_is_fixed(server, apps, page):
    response = page.goto(server + "/broken")
    assert response.status in (200, 500)
    page.locator(".jb-error-reload").wait_for()
    assert "not yet" in page.content()

    (apps / "broken.py").write_text(SLIDERS.replace('"Sliders"', '"Fixed"'))
    try:
        expect(page).to_have_title("Fixed", timeout=30_000)
        page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
    finally:
        (apps / "broken.py").write_text(BROKEN)


def test_the_admin_page_works_under_the_policy(server, page):
    page.goto(server + "/admin")
    page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
    expect(page.locator(".jb-admin-card[data-figure='rss_mb'] .value")).not_to_have_text("0.0")
