"""A notebook's own folder: its cells run there, and its page loads the folder's media files."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import nbformat
import pytest
from support import CHROMIUM, CHROMIUM_ARGS, serving
from test_notebook_app import PNG, open_notebook, roots, write_notebook
from tornado.httpclient import AsyncHTTPClient
from wsclient import fetch_page


async def fetch(url: str, **kwargs) -> tuple[int, bytes]:
    response = await AsyncHTTPClient().fetch(url, follow_redirects=False, raise_error=False, **kwargs)
    return response.code, response.body or b""


async def test_cells_open_files_relative_to_the_notebook_folder(serve, tmp_path, monkeypatch):
    folder = tmp_path / "report"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "cars.json").write_text('{"cars": 3}')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the server is started in another folder
    path = write_notebook(
        folder,
        "import json, os, asyncio\nimport ipywidgets as w\nfrom pathlib import Path",
        "cars = json.loads(open('data/cars.json').read())['cars']",
        "await asyncio.sleep(0)\nsame = Path('data/cars.json').read_text() == open('./data/cars.json').read()",
        "os.chdir('data')",
        "w.Label(f'{cars} {same} {Path(\"cars.json\").exists()} {os.getcwd() == str(Path(__file__).parent / \"data\")}')",
    )
    server = serve({"/nb": str(path)})
    first = await open_notebook(server)
    assert first.model("LabelModel")["value"] == "3 True True True"
    second = await open_notebook(server)  # every session starts in the notebook's folder again
    assert second.model("LabelModel")["value"] == "3 True True True"
    assert os.getcwd() == str(elsewhere)  # the server's own working directory is untouched
    await first.close()
    await second.close()


async def test_a_failing_cell_gives_the_working_directory_back(serve, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nbs").mkdir()
    path = write_notebook(tmp_path / "nbs", "open('missing.csv')")
    server = serve({"/nb": str(path)})
    await fetch_page(server.url + "nb")
    assert os.getcwd() == str(tmp_path)


def media_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "notebooks"
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "chart.png").write_bytes(PNG)
    (folder / "images" / ".hidden.png").write_bytes(PNG)
    (folder / ".private").mkdir()
    (folder / ".private" / "x.png").write_bytes(PNG)
    (folder / "secrets.py").write_text("TOKEN = 'do not serve'\n")
    (tmp_path / "outside.png").write_bytes(PNG)
    (folder / "images" / "link.png").symlink_to(tmp_path / "outside.png")
    (folder / "images" / "code.png").symlink_to(folder / "secrets.py")
    path = write_notebook(
        folder, "md:# Charts\n\n![a chart](images/chart.png)\n\n<img src=\"./images/chart.png\" alt=\"raw\">",
        "import ipywidgets as w\nw.Label('ok')", name="charts",
    )
    notebook = nbformat.read(path, as_version=4)  # a pasted image, kept in the notebook itself
    notebook.cells.append(nbformat.v4.new_markdown_cell(
        "![pasted](attachment:pasted%20image.png)",
        attachments={"pasted image.png": {"image/png": base64.b64encode(PNG).decode()}},
    ))
    nbformat.write(notebook, path)
    return folder


async def test_the_page_loads_media_files_of_the_notebook_folder_and_nothing_else(serve, tmp_path):
    folder = media_folder(tmp_path)
    server = serve({"/charts": str(folder / "charts.ipynb")})
    client = await open_notebook(server, "charts")
    markdown = roots(client)[0][1]["value"]
    assert 'src="charts/files/images/chart.png"' in markdown  # relative to the page /charts
    assert 'src="charts/files/images/chart.png" alt="raw"' in markdown
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}" alt="pasted"' in roots(client)[2][1]["value"]
    await client.close()
    assert await fetch(server.url + "charts/files/images/chart.png") == (200, PNG)
    for attack in (
        "charts/files/secrets.py",  # the notebook's code and data are not media
        "charts/files/charts.ipynb",
        "charts/files/images/.hidden.png",
        "charts/files/.private/x.png",
        "charts/files/../outside.png",
        "charts/files/%2e%2e/outside.png",
        "charts/files/images%2f..%2f..%2foutside.png",
        "charts/files/images/link.png",  # a symlink leaving the folder
        "charts/files/images/code.png",  # a symlink to a file that is not media
        "charts/files//etc/hostname.png",
    ):
        code, body = await fetch(server.url + attack)
        assert code == 404, attack
        assert b"do not serve" not in body and PNG not in body


async def test_a_page_asked_for_with_a_slash_finds_the_files_too(serve, tmp_path):
    folder = media_folder(tmp_path)
    server = serve({"/charts": str(folder / "charts.ipynb")})
    client = await open_notebook(server, "charts/")
    assert 'src="files/images/chart.png"' in roots(client)[0][1]["value"]
    await client.close()


async def test_the_files_need_the_same_login_as_the_page(serve, tmp_path):
    folder = media_folder(tmp_path)
    auth = tmp_path / "auth.py"
    auth.write_text(
        "login_url = '/login'\n"
        "def get_user(handler):\n"
        "    return handler.get_cookie('user')\n"
    )
    server = serve({"/charts": str(folder / "charts.ipynb")}, auth_module=str(auth))
    code, body = await fetch(server.url + "charts/files/images/chart.png")
    assert code == 302 and PNG not in body
    assert await fetch(server.url + "charts/files/images/chart.png", headers={"Cookie": "user=ann"}) == (200, PNG)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_markdown_images_show_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    folder = media_folder(tmp_path)
    with serving(str(folder / "charts.ipynb")) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(base + "/charts")
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1']", timeout=20_000)
            for alt in ("a chart", "raw", "pasted"):
                image = page.locator(f"img[alt='{alt}']")
                page.wait_for_function("e => e.complete && e.naturalWidth === 1", arg=image.element_handle())
        finally:
            browser.close()


def test_an_export_keeps_the_addresses_as_written(tmp_path):
    from jupyter_bridge.export import document_state

    folder = media_folder(tmp_path)
    state = json.dumps(document_state(str(folder / "charts.ipynb")))
    assert 'src=\\"images/chart.png\\"' in state and "files/images" not in state


async def test_a_notebook_whose_name_has_a_space_is_served_at_its_name(serve, tmp_path):
    # A browser asks for /My%20charts (the server's / leads there): the app answers, files included.
    folder = media_folder(tmp_path)
    (folder / "charts.ipynb").rename(folder / "My charts.ipynb")
    server = serve({"/My charts": str(folder / "My charts.ipynb")})
    code, body = await fetch(server.url + "My%20charts")
    assert code == 200 and b"jupyter-bridge-config" in body
    client = await open_notebook(server, "My%20charts")  # its WebSocket too
    assert roots(client)
    await client.close()
    assert await fetch(server.url + "My%20charts/files/images/chart.png") == (200, PNG)


TEXTURE_NOTEBOOK = (
    "from pythreejs import Mesh, BoxGeometry, MeshBasicMaterial, ImageTexture, PerspectiveCamera, Renderer, Scene\n"
    "camera = PerspectiveCamera(position=[0, 0, 3])\n"
    "texture = ImageTexture(imageUri='images/chart.png')\n"
    "cube = Mesh(BoxGeometry(1, 1, 1), MeshBasicMaterial(map=texture))\n"
    "Renderer(camera=camera, scene=Scene(children=[cube, camera]), width=200, height=150)"
)


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_a_widget_loads_a_file_named_relative_to_the_notebook(tmp_path):
    # pythreejs asks the widget manager to resolve its texture's URL, as JupyterLab and
    # Voila resolve it: against the notebook's folder, here its app's files/.
    pytest.importorskip("pythreejs")
    from playwright.sync_api import sync_playwright

    folder = media_folder(tmp_path)
    write_notebook(folder, TEXTURE_NOTEBOOK, name="textured")
    with serving(str(folder / "textured.ipynb")) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            with page.expect_response(lambda response: "chart.png" in response.url, timeout=30_000) as texture:
                page.goto(base + "/textured")
            assert texture.value.url == base + "/textured/files/images/chart.png"
            assert texture.value.status == 200
            page.wait_for_selector("#jupyter-bridge-roots[data-jb-ready='1'] canvas", timeout=30_000)
            assert not errors, errors
        finally:
            browser.close()
