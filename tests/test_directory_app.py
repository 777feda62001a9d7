"""Directory apps: main.py, server_lifecycle.py, static/, theme.yaml, templates/."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import EXAMPLES
from wsclient import Client, fetch_page

from jupyter_bridge.application import NotAnAppError, build_application


def make_app(root: Path, name: str, files: dict[str, str]) -> Path:
    folder = root / name
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return folder


HELPER_APP = {
    "main.py": """
        import ipywidgets as w
        from helpers import NAME, counter
        from jupyter_bridge import curdoc
        counter.append(1)
        curdoc().add_root(w.Label(f"{NAME} {len(counter)} {__file__}"))
    """,
}


async def test_helpers_are_fresh_per_session_and_never_shared_between_apps(serve, tmp_path):
    one = make_app(tmp_path, "one", {**HELPER_APP, "helpers.py": "NAME = 'one'\ncounter = []\n"})
    two = make_app(tmp_path, "two", {**HELPER_APP, "helpers.py": "NAME = 'two'\ncounter = []\n"})
    server = serve({"/one": str(one), "/two": str(two)})
    labels = []
    for path in ["one", "two", "one"]:
        client = await Client.open(server.url, path)
        labels.append(client.model("LabelModel")["value"])
        await client.close()
    assert labels == [
        f"one 1 {one / 'main.py'}",
        f"two 1 {two / 'main.py'}",
        f"one 1 {one / 'main.py'}",
    ]
    assert "helpers" not in sys.modules


def hooks_app(root: Path, log_file: Path) -> Path:
    """A directory app that logs its four hooks and shows what on_server_loaded set up."""
    return make_app(root, "hooks", {
        "main.py": """
            import ipywidgets as w
            from jupyter_bridge import curdoc
            doc = curdoc()
            events = getattr(doc.session_context.server_context, "events", "no server hook ran")
            doc.add_root(w.Label(str(events)))
        """,
        "server_lifecycle.py": f"""
            def record(event):
                with open({str(log_file)!r}, "a") as f:
                    f.write(event + "\\n")
            def on_server_loaded(ctx):
                ctx.events = ["loaded"]
                record("loaded")
            def on_session_created(ctx):
                ctx.server_context.events.append("created")
                record("created")
            def on_session_destroyed(ctx):
                record("destroyed")
            def on_server_unloaded(ctx):
                record("unloaded")
        """,
    })


async def test_lifecycle_hooks_run_once_each_at_the_right_moment(serve, tmp_path):
    log_file = tmp_path / "events.txt"
    app = hooks_app(tmp_path, log_file)
    server = serve({"/hooks": str(app)})
    client = await Client.open(server.url, "hooks")
    # on_session_created ran before main.py built the document.
    assert client.model("LabelModel")["value"] == "['loaded', 'created']"
    await client.close()
    await server.shutdown()
    assert log_file.read_text().split() == ["loaded", "created", "destroyed", "unloaded"]


@pytest.mark.parametrize("command", ["json", "html"])
def test_an_export_runs_the_four_hooks_in_order_once_each(tmp_path, command):
    log_file = tmp_path / "events.txt"
    app = hooks_app(tmp_path, log_file)
    output = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_bridge.cli", command, str(app), "-o", str(output)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # main.py saw what on_server_loaded and on_session_created set up, as a served page does.
    assert "['loaded', 'created']" in output.read_text()
    assert "no server hook ran" not in output.read_text()
    assert log_file.read_text().split() == ["loaded", "created", "destroyed", "unloaded"]


async def test_a_failing_lifecycle_hook_is_logged_and_sessions_go_on(serve, tmp_path, caplog):
    app = make_app(tmp_path, "fragile", {
        "main.py": "import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('up'))\n",
        "server_lifecycle.py": "def on_session_created(ctx):\n    raise RuntimeError('hook broke')\n",
    })
    server = serve({"/fragile": str(app)})
    client = await Client.open(server.url, "fragile")
    assert client.model("LabelModel")["value"] == "up"
    assert "hook broke" in caplog.text
    await client.close()


async def test_static_files_are_served_and_traversal_refused(serve):
    server = serve({"/dashboard": str(EXAMPLES / "dashboard")})
    code, css = await fetch_page(server.url + "dashboard/static/style.css")
    assert code == 200 and ".stand" in css
    code, _ = await fetch_page(server.url + "dashboard/static/%2e%2e/main.py")
    assert code in (403, 404)
    code, _ = await fetch_page(server.url + "dashboard/static/../main.py")
    assert code in (403, 404)


async def test_theme_sets_defaults_unless_the_app_sets_them(serve, tmp_path):
    app = make_app(tmp_path, "themed", {
        "main.py": """
            import ipywidgets as w
            from jupyter_bridge import curdoc
            doc = curdoc()
            doc.add_root(w.IntSlider(description="themed"))
            doc.add_root(w.IntSlider(description="own", continuous_update=True))
            doc.add_root(w.Button(description="b"))
            doc.add_root(w.Label("plain"))
        """,
        "theme.yaml": "attrs:\n  IntSlider: {continuous_update: false}\n  Button: {button_style: danger}\n",
    })
    server = serve({"/themed": str(app)})
    client = await Client.open(server.url, "themed")
    sliders = {client.models[i]["description"]: client.models[i] for i in client.model_ids("IntSliderModel")}
    assert sliders["themed"]["continuous_update"] is False
    assert sliders["own"]["continuous_update"] is True
    assert client.model("ButtonModel")["button_style"] == "danger"
    await client.close()
    # The theme belongs to that app's sessions only.
    import ipywidgets as w

    assert w.IntSlider().continuous_update is True


@pytest.mark.parametrize(
    ("theme", "message"),
    [
        ("attrs:\n  NoSuchWidget: {value: 1}\n", "attrs.NoSuchWidget: no widget class named 'NoSuchWidget'"),
        ("attrs:\n  IntSlider: {colour: red}\n", "attrs.IntSlider.colour: IntSlider has no public trait 'colour'"),
        ("attrs:\n  IntSlider: {continuous_update: maybe}\n", "attrs.IntSlider.continuous_update"),
        ("colours: {}\n", "a theme has one key, 'attrs'"),
        ("attrs: [\n", "not valid YAML"),
    ],
)
def test_bad_theme_is_a_startup_error_naming_file_and_key(tmp_path, theme, message):
    app = make_app(tmp_path, "badtheme", {"main.py": "", "theme.yaml": theme})
    with pytest.raises(NotAnAppError) as error:
        build_application(app)
    assert message in str(error.value)
    assert "theme.yaml" in str(error.value)


def test_directory_without_main_is_not_an_app(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAnAppError, match="has no main.py"):
        build_application(tmp_path / "empty")


async def test_template_places_named_roots_and_gets_template_variables(serve):
    server = serve({"/dashboard": str(EXAMPLES / "dashboard")})
    code, html = await fetch_page(server.url + "dashboard")
    assert code == 200
    assert "<h1>Fruit stand</h1>" in html
    assert "Session number 1 since the server started." in html
    assert html.count('data-jb-root-id="') == 2
    assert 'href="/dashboard/static/style.css"' in html
    code, html = await fetch_page(server.url + "dashboard")
    assert "Session number 2 since the server started." in html


async def test_broken_template_answers_500_and_frees_the_session(serve, tmp_path):
    app = make_app(tmp_path, "badtemplate", {
        "main.py": "import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('x'))\n",
        "templates/index.html": "{% extends 'page.html' %}{% block contents %}{{ embed(roots.missing) }}{% endblock %}",
    })
    server = serve({"/badtemplate": str(app)})
    code, html = await fetch_page(server.url + "badtemplate")
    assert code == 500 and "no root named &#39;missing&#39;" in html
    assert server.bridge.session_count == 0


WHOLE_PAGE_APP = {
    "main.py": """
        import ipywidgets as w
        from jupyter_bridge import curdoc
        doc = curdoc()
        doc.add_root(w.IntSlider(description="placed"), name="placed")
        doc.add_root(w.Label("not placed anywhere"))
    """,
    "templates/index.html": """
        <!DOCTYPE html>
        <html><head><title>My own page</title><style>h1 { color: teal; }</style></head>
        <body><h1>My own page</h1><main>{{ embed(roots.placed) }}</main></body></html>
    """,
}


async def test_a_whole_page_template_gets_what_the_client_needs(serve, tmp_path):
    app = make_app(tmp_path, "whole", WHOLE_PAGE_APP)
    server = serve({"/whole": str(app)})
    code, html = await fetch_page(server.url + "whole")
    assert code == 200
    head, _, body = html.partition("</head>")
    # Its own markup stays; the client's config, stylesheet and script come at the end of its head ...
    assert "<title>My own page</title>" in head and "<h1>My own page</h1>" in body
    assert head.count('id="jupyter-bridge-config"') == 1 and '"token"' in head
    assert 'rel="stylesheet"' in head and 'type="module"' in head
    # ... and the unplaced roots' container at the end of its body.
    assert body.count('id="jupyter-bridge-roots"') == 1
    assert body.index('data-jb-root-name="placed"') < body.index('id="jupyter-bridge-roots"') < body.index("</body>")
    # The page's session is live: its socket attaches to it.
    client = await Client.open(server.url, "whole")
    assert client.model("LabelModel")["value"] == "not placed anywhere"
    await client.close()


async def test_a_template_extending_page_html_gets_nothing_twice(serve):
    server = serve({"/dashboard": str(EXAMPLES / "dashboard")})
    code, html = await fetch_page(server.url + "dashboard")
    assert code == 200
    assert html.count('id="jupyter-bridge-config"') == 1
    assert html.count('id="jupyter-bridge-roots"') == 1
    assert html.count('type="module"') == 1
