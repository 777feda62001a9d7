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


