"""The page client's files over HTTP: ETag, conditional GETs (304) and HEAD, on a real server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from support import serving

from jupyter_bridge.server.views import STATIC_DIR

pytestmark = pytest.mark.skipif(not (STATIC_DIR / "manifest.json").is_file(), reason="the page client is not built")



def _request(url: str, method: str = "GET", **headers: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers), timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> str:
    app = tmp_path_factory.mktemp("apps") / "hello.py"
    app.write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('hi'))\n")
    with serving(str(app)) as base:
        yield base


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_an_asset_revalidated_with_its_etag_is_a_304_without_a_body(server, encoding):
    client = json.loads((STATIC_DIR / "manifest.json").read_text())["client.js"]
    url = f"{server}/static/{client}"
    status, headers, body = _request(url, **{"Accept-Encoding": encoding})
    assert status == 200 and body and headers.get("Etag"), headers
    assert (headers.get("Content-Encoding") == "gzip") == (encoding == "gzip")

    status, again, body = _request(url, **{"Accept-Encoding": encoding, "If-None-Match": headers["Etag"]})
    assert status == 304 and body == b"" and again["Etag"] == headers["Etag"]
    # Another version's tag gets the file.
    status, _, body = _request(url, **{"Accept-Encoding": encoding, "If-None-Match": '"0000"'})
    assert status == 200 and body


def test_head_answers_the_headers_of_get_and_no_body(server):
    css = json.loads((STATIC_DIR / "manifest.json").read_text())["client.css"]
    url = f"{server}/static/{css}"
    _, got, body = _request(url)
    status, headers, head_body = _request(url, method="HEAD")
    assert status == 200 and head_body == b""
    assert headers["Content-Length"] == got["Content-Length"] == str(len(body))
    for name in ("Content-Type", "Etag", "Cache-Control", "Access-Control-Allow-Origin"):
        assert headers[name] == got[name], name
    # A file that is not there is 404 for HEAD too, and the manifest stays private.
    assert _request(f"{server}/static/nothing-here.js", method="HEAD")[0] == 404
    assert _request(f"{server}/static/manifest.json", method="HEAD")[0] == 404
