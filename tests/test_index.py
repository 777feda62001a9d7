"""The index of apps: title, path and one line about each; a search box for long lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import CHROMIUM, serving
from tornado.httpclient import AsyncHTTPClient

from jupyter_bridge.jupyter.apps import FoundApp
from jupyter_bridge.server.index import describe, index_entry

SCRIPT = '"""Sliders that double.\n\nMore words."""\nfrom jupyter_bridge import curdoc\ncurdoc().title = "Doubling"\n'


def make_apps(folder: Path) -> None:
    (folder / "doubling.py").write_text(SCRIPT)
    board = folder / "board"
    board.mkdir()
    (board / "main.py").write_text('"""Main\'s own line."""\nfrom jupyter_bridge import curdoc\n')
    (board / "README.md").write_text("# Board\n\nA dashboard of the week's figures.\n")
    notebook = {
        "cells": [
            {"cell_type": "code", "source": ["import ipywidgets"], "metadata": {}, "outputs": [], "execution_count": None},
            {"cell_type": "markdown", "source": ["## Weather explorer\n", "Pick a city."], "metadata": {}},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (folder / "weather.ipynb").write_text(json.dumps(notebook))


def test_each_kind_of_app_describes_itself(tmp_path):
    make_apps(tmp_path)
    assert describe(tmp_path / "doubling.py") == ("Doubling", "Sliders that double.")
    assert describe(tmp_path / "board") == ("Board", "A dashboard of the week's figures.")
    assert describe(tmp_path / "weather.ipynb") == ("Weather explorer", "Weather explorer")
    (tmp_path / "board" / "README.md").unlink()
    assert describe(tmp_path / "board") == (None, "Main's own line.")
    assert describe(tmp_path / "missing.py") == (None, "")
    found = index_entry("/bridge/apps/board", FoundApp("board", "directory"), tmp_path)
    assert (found.title, found.description, found.kind) == ("Board", "Main's own line.", "directory")


async def test_the_index_shows_title_path_and_description(serve, tmp_path, monkeypatch):
    make_apps(tmp_path)
    monkeypatch.chdir(tmp_path)
    server = serve({"/doubling": str(tmp_path / "doubling.py"), "/board": str(tmp_path / "board")})
    html = (await AsyncHTTPClient().fetch(server.url)).body.decode()
    assert '<span class="jb-app-title">Doubling</span><span class="jb-app-path">doubling.py</span>' in html
    assert '<span class="jb-app-description">Sliders that double.</span>' in html
    assert "A dashboard of the week&#39;s figures." in html
    assert 'class="jb-search"' not in html  # two apps need no search


def test_the_jupyter_listing_is_the_same_index(tmp_path):
    from jupyter_bridge.jupyter.views import _templates
    from jupyter_bridge.server.bridge import Bridge

    make_apps(tmp_path)
    bridge = Bridge({}, prefix="/bridge")
    apps = [index_entry("/bridge/apps/doubling.py", FoundApp("doubling.py", "script"), tmp_path)]
    html = _templates().get_template("apps.html").render(bridge=bridge, apps=apps, search_above=10, truncated=True,
                                                         scan_depth=3, scan_limit=10)
    assert '<ul class="jb-apps">' in html and "Sliders that double." in html and "jb-truncated" in html


async def test_an_unknown_address_lists_the_apps_and_suggests_the_nearest(serve, tmp_path):
    make_apps(tmp_path)
    server = serve({"/doubling": str(tmp_path / "doubling.py"), "/board": str(tmp_path / "board")})
    for asked, suggested in (("doublign", "/doubling"), ("Board/extra/part", "/board"), ("zzz", None)):
        response = await AsyncHTTPClient().fetch(server.url + asked, raise_error=False)
        html = response.body.decode()
        assert response.code == 404 and "jb-not-found" in html and "404: Not Found" not in html
        assert "Sliders that double." in html and 'href="/board"' in html  # every app, as the index lists it
        if suggested:
            assert f'Did you mean <a href="{suggested}">' in html
        else:
            assert "Did you mean" not in html
    server.bridge.settings.disable_index = True  # no index: no list either
    response = await AsyncHTTPClient().fetch(server.url + "doublign", raise_error=False)
    assert response.code == 404 and "Sliders that double." not in response.body.decode()


async def test_an_unknown_address_needs_the_login_its_list_would_need(serve, tmp_path):
    make_apps(tmp_path)
    auth = tmp_path / "auth.py"
    auth.write_text("login_url = '/login'\ndef get_user(handler):\n    return handler.get_cookie('user')\n")
    server = serve({"/doubling": str(tmp_path / "doubling.py")}, auth_module=str(auth))
    response = await AsyncHTTPClient().fetch(server.url + "doublign", raise_error=False, follow_redirects=False)
    assert response.code == 302 and b"Sliders" not in (response.body or b"")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_a_long_index_has_a_search_box(tmp_path, browser):
    names = [f"app_{n:02d}" for n in range(12)]
    for n, name in enumerate(names):
        doc = "Counts sheep." if n == 7 else f"App number {n}."
        (tmp_path / f"{name}.py").write_text(f'"""{doc}"""\nfrom jupyter_bridge import curdoc\n')
    with serving(*(str(tmp_path / f"{name}.py") for name in names)) as base:
        page = browser.new_page()
        try:
            page.goto(base + "/")
            search = page.locator(".jb-search")
            assert page.locator(".jb-apps li:visible").count() == 12
            search.fill("sheep")
            page.wait_for_function("document.querySelectorAll('.jb-apps li:not([hidden])').length === 1")
            assert page.locator(".jb-apps li:visible .jb-app-title").inner_text() == "app_07"
            search.fill("")
            page.wait_for_function("document.querySelectorAll('.jb-apps li:not([hidden])').length === 12")
        finally:
            page.close()




@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_an_unknown_address_in_chromium_leads_to_the_app(tmp_path, browser):
    make_apps(tmp_path)
    with serving(str(tmp_path / "doubling.py"), str(tmp_path / "board")) as base:
        page = browser.new_page()
        try:
            response = page.goto(base + "/doublin")
            assert response.status == 404
            assert page.locator("h1").inner_text() == "404 · No app here"
            page.locator(".jb-suggestion a").click()
            page.wait_for_url(base + "/doubling")
        finally:
            page.close()


def markup_apps(folder: Path) -> None:
    (folder / "cells.py").write_text(
        '"""``show(app)``: an app in a **cell**, see :func:`curdoc` and [the docs](https://example.org)."""\n'
        "import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('x'))\n"
    )
    notebook = {
        "cells": [
            {"cell_type": "markdown", "source": ["# Using `%matplotlib widget` **live**"], "metadata": {}},
            {"cell_type": "code", "source": ["import ipywidgets as w\nw.Label('y')"], "metadata": {},
             "outputs": [], "execution_count": None},
        ],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    }
    (folder / "live.ipynb").write_text(json.dumps(notebook))


def test_titles_and_descriptions_drop_the_markup_of_docstrings_and_headings(tmp_path):
    markup_apps(tmp_path)
    assert describe(tmp_path / "cells.py") == (None, "show(app): an app in a cell, see curdoc and the docs.")
    assert describe(tmp_path / "live.ipynb") == ("Using %matplotlib widget live",) * 2


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_the_index_and_the_page_title_show_words_not_markup(tmp_path, browser):
    markup_apps(tmp_path)
    with serving(str(tmp_path / "cells.py"), str(tmp_path / "live.ipynb")) as base:
        page = browser.new_page()
        try:
            page.goto(base + "/")
            text = page.locator(".jb-apps").inner_text()
            assert "show(app): an app in a cell" in text and "Using %matplotlib widget live" in text
            assert "`" not in text and "**" not in text
            page.goto(base + "/live")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
            assert page.title() == "Using %matplotlib widget live"
            assert page.locator(".jb-header-title").inner_text() == "Using %matplotlib widget live"
        finally:
            page.close()
