"""The page's frame, theme and loading shell as HTTP answers, and the fixes a new user asked for."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
from typing import Any

import pytest
from support import free_port, wait_for_http
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from jupyter_bridge.cli import main
from jupyter_bridge.settings import BridgeSettings
from jupyter_bridge.theme import Theme, ThemeError


async def fetch(url: str, **headers: str) -> tuple[int, str]:
    try:
        response = await AsyncHTTPClient().fetch(url, headers=headers, request_timeout=60)
    except HTTPClientError as error:
        assert error.response is not None
        return error.code, error.response.body.decode()
    return response.code, response.body.decode()


def labelled(text: str):
    def app(doc: Any) -> None:
        import ipywidgets as w

        doc.title = "Labelled"
        doc.add_root(w.Label(text))

    return app


async def test_the_frame_and_theme_follow_the_settings(serve):
    framed = serve({"/a": labelled("x")})
    code, html = await fetch(framed.url + "a")
    assert code == 200 and '<header class="jb-header">' in html and 'data-jb-theme="auto"' in html
    assert re.search(r'<span class="jb-header-title"[^>]*>Labelled</span>', html)
    bare = serve({"/a": labelled("x")}, page_frame="none", theme="dark")
    code, html = await fetch(bare.url + "a")
    assert code == 200 and "jb-header" not in html and 'data-jb-theme="dark"' in html


async def test_an_untitled_app_is_named_by_its_file_in_the_header(serve, tmp_path):
    app = tmp_path / "untitled_sums.py"
    app.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('x'))\n")
    server = serve({"/sums": str(app)})
    code, html = await fetch(server.url + "sums")
    assert re.search(r'<span class="jb-header-title"[^>]*>untitled_sums</span>', html)


async def test_a_document_chooses_its_own_frame_and_warns_of_a_bad_choice(serve, caplog):
    def app(doc: Any) -> None:
        import ipywidgets as w

        doc.template_variables.update(page_frame="none", page_theme="sepia")
        doc.add_root(w.Label("x"))

    server = serve({"/a": app})
    with caplog.at_level(logging.WARNING):
        code, html = await fetch(server.url + "a")
    assert code == 200 and "jb-header" not in html and 'data-jb-page-theme="auto"' in html
    assert "template_variables['page_theme'] is 'sepia'; use one of auto, light, dark" in caplog.text


async def test_an_app_without_roots_is_named_in_the_page_and_logged_once(serve, caplog):
    def nothing(doc: Any) -> None:
        doc.title = "Nothing yet"

    server = serve({"/empty": nothing})
    with caplog.at_level(logging.WARNING, logger="jupyter_bridge"):
        for _ in range(3):
            code, html = await fetch(server.url + "empty")
            assert code == 200 and "curdoc().add_root(widget)" in html
    said = [r.getMessage() for r in caplog.records if "added no widgets" in r.getMessage()]
    assert said == ["nothing (/empty) added no widgets to its page: call curdoc().add_root(widget) in the app"]


async def test_a_browser_gets_the_spinner_before_the_app_runs(serve):
    def broken(doc: Any) -> None:
        raise RuntimeError("no data")

    server = serve({"/a": labelled("x"), "/broken": broken})
    code, html = await fetch(server.url + "a", **{"Sec-Fetch-Dest": "document"})
    assert code == 200 and html.index('class="jb-loading"') < html.index('id="jupyter-bridge-config"')
    assert html.count('class="jb-loading"') == 1
    # Once the spinner went out, a failing app is told in the page...
    code, html = await fetch(server.url + "broken", **{"Sec-Fetch-Dest": "document"})
    assert code == 200 and 'jb-error-page' in html and "RuntimeError: no data" in html
    # ...which has the browser load it again, this time with the error's status, once.
    again = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', html).group(1)
    assert again.startswith("broken?jb-failed=")  # relative to the page's address
    code, html = await fetch(server.url + again, **{"Sec-Fetch-Dest": "document"})
    assert code == 500 and "RuntimeError: no data" in html and "jb-loading" not in html
    code, html = await fetch(server.url + again, **{"Sec-Fetch-Dest": "document"})
    assert code == 500 and "RuntimeError: no data" in html  # seen already: the app ran again
    # ...while a client that does not show pages still gets the status.
    code, html = await fetch(server.url + "broken")
    assert code == 500 and "jb-loading" not in html


def test_mistyped_flags_and_settings_get_a_suggestion(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["serve", "app.py", "--prot", "5007"])
    assert exit.value.code == 2
    assert "--prot: did you mean --port?" in capsys.readouterr().err
    with pytest.raises(TypeError, match="did you mean port"):
        BridgeSettings(prot=5007)
    with pytest.raises(ThemeError, match="button_colour.*did you mean 'button_style'"):
        Theme({"Button": {"button_colour": "red"}})
    with pytest.raises(ThemeError, match="did you mean 'IntSlider'"):
        Theme({"IntSlidr": {}})


def test_the_static_page_says_that_python_does_not_run(tmp_path):
    app = tmp_path / "app.py"
    app.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.IntSlider())\n")
    assert main(["html", str(app), "-o", str(tmp_path / "app.html")]) == 0
    html = (tmp_path / "app.html").read_text()
    assert "Python callbacks do not run here" in html


def test_run_until_shutdown_logs_where_it_serves(tmp_path):
    port = free_port()
    script = tmp_path / "serve.py"
    script.write_text(
        "from jupyter_bridge import Server\n"
        "def app(doc):\n    pass\n"
        f"Server({{'/hello': app}}, port={port}, address='127.0.0.1').run_until_shutdown()\n"
    )
    log = tmp_path / "log"
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, str(script)], stderr=output)
        try:
            wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert f"Serving at http://127.0.0.1:{port}/: http://127.0.0.1:{port}/hello" in log.read_text()
