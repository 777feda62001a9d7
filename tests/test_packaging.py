"""The release artifacts as a user, a packager and JupyterLab meet them.

One ``python -m build`` (sdist, then the wheel from the sdist) of a clean copy of the
source tree, shared by every test here; each artifact is installed into a fresh
virtual environment whose PATH holds no Node.js, and served by a real ``jupyter lab``.
Select with ``-m packaging`` (or leave out with ``-m "not packaging"``): it builds the
front end once more and installs two environments, a minute or two.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import free_port, wait_for_jupyter

pytestmark = [
    pytest.mark.packaging,
    pytest.mark.skipif(shutil.which("npm") is None or shutil.which("git") is None, reason="needs Node.js, npm and git"),
]

ROOT = Path(__file__).resolve().parent.parent
NAME = "jupyter_bridge"
LAB_NAME = "jupyter-bridge"
DATA = f"share/jupyter/labextensions/{LAB_NAME}"


def _version() -> str:
    return re.search(r'__version__ = "([^"]+)"', (ROOT / NAME / "version.py").read_text()).group(1)


def _copy_sources(dest: Path) -> Path:
    """The tree as git would check it out (with uncommitted edits), plus node_modules."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    modules = ROOT / "labextension" / "node_modules"
    if modules.is_dir():
        # Saves `npm ci` its download; the build still runs `npm ci` when they are missing.
        subprocess.run(["cp", "-a", str(modules), str(dest / "labextension")], check=True)
    return dest


def _without_node(env_bin: Path) -> dict[str, str]:
    """An environment whose PATH is the virtual environment's bin folder and nothing with node or npm."""
    folders = [str(env_bin)]
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if folder and not any((Path(folder) / tool).exists() for tool in ("node", "npm", "nodejs")):
            folders.append(folder)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "NODE_PATH"}}
    env["PATH"] = os.pathsep.join(folders)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    return env


def _files(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel, built from a copy of the tree without any built front end."""
    source = _copy_sources(tmp_path_factory.mktemp("build") / "source")
    assert not (source / NAME / "static").exists() and not (source / NAME / "labextension").exists()
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    said = result.stdout + result.stderr
    assert result.returncode == 0, said[-8000:]
    # One front-end build, for the sdist; the wheel, built from the sdist, finds it built.
    assert re.search(r"jupyter_bridge build: \S*npm run build\n", said) and said.count("Building extension in") == 1, said[-8000:]
    assert "Skip-if-exists file(s) found" in said, said[-8000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "source": source}


def test_the_wheel_holds_the_licence_the_page_client_the_lab_extension_and_the_config(dists):
    version = _version()
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        names = set(wheel.namelist())
        info = f"{NAME}-{version}.dist-info"
        data = f"{NAME}-{version}.data/data"
        metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"), policy=email.policy.default)
        licence = wheel.read(f"{info}/licenses/LICENSE").decode()
        manifest = json.loads(wheel.read(f"{NAME}/static/manifest.json"))
        config = json.loads(wheel.read(f"{data}/etc/jupyter/jupyter_server_config.d/jupyter_bridge.json"))
        lab_package = json.loads(wheel.read(f"{data}/{DATA}/package.json"))
        page_licences = json.loads(wheel.read(f"{NAME}/static/third-party-licenses.json"))

    assert "BSD 3-Clause" in licence and "jupyter_bridge contributors" in licence
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert f"{info}/licenses/{NAME}/static/third-party-licenses.json" in names
    assert f"{data}/{DATA}/static/third-party-licenses.json" in names
    bundled = {package["name"] for package in page_licences["packages"]}
    assert {"@jupyter-widgets/controls", "jquery", "requirejs"} <= bundled

    classifiers = metadata.get_all("Classifier")
    assert "Framework :: Jupyter :: JupyterLab :: Extensions :: Prebuilt" in classifiers
    assert "Framework :: Jupyter :: JupyterLab :: 4" in classifiers
    requires = " ".join(metadata.get_all("Requires-Dist"))
    assert "markupsafe" in requires and "jupyter-server<3" in requires.replace("_", "-")

    # The page client: every file its manifest names (controls.names are widget classes), and the pages' fonts.
    assert "TabModel" in manifest.pop("controls.names")
    for entry in manifest.values():
        for file in entry if isinstance(entry, list) else [entry]:
            assert f"{NAME}/static/{file}" in names, file
    assert any(name.startswith(f"{NAME}/static/assets/") and name.endswith(".woff2") for name in names)
    # The prebuilt JupyterLab extension and the enabled server extension.
    assert lab_package["name"] == LAB_NAME and lab_package["version"] == version
    assert any(re.fullmatch(rf"{re.escape(data)}/{DATA}/static/remoteEntry\.[0-9a-f]+\.js", n) for n in names)
    assert f"{data}/{DATA}/install.json" in names
    assert config == {"ServerApp": {"jpserver_extensions": {NAME: True}}}

    # Nothing of the development tree.
    for name in names:
        assert not name.startswith(("tests/", "labextension/", "docs/", "examples/", "bench/")), name
        assert "node_modules" not in name and not name.endswith((".ts", ".tsx", ".map")), name
        assert not name.startswith(f"{NAME}/labextension/"), name  # shared-data carries it


def test_the_sdist_carries_the_built_front_end_and_its_sources(dists):
    with tarfile.open(dists["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "pyproject.toml", "hatch_build.py", "labextension/package.json", "labextension/package-lock.json"} <= names
    assert {f"{NAME}/static/manifest.json", f"{NAME}/labextension/package.json", f"{NAME}/static/third-party-licenses.json"} <= names
    assert any(name.startswith("labextension/src/") for name in names)
    assert not any("node_modules" in name or name.startswith("labextension/lib/") for name in names)


def test_two_builds_in_different_folders_give_the_same_front_end(dists, tmp_path):
    other = tmp_path / "a" / "much" / "deeper" / "checkout"
    other.mkdir(parents=True)
    _copy_sources(other)
    result = subprocess.run(["npm", "run", "build:prod"], cwd=other / "labextension", capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    built = dists["source"]
    assert _files(other / NAME / "static") == _files(built / NAME / "static")
    assert _files(other / NAME / "labextension") == _files(built / NAME / "labextension")
    # ... and they are what the wheel carries.
    with zipfile.ZipFile(dists["wheel"]) as wheel:
        in_wheel = {
            name[len(f"{NAME}/static/"):]: hashlib.sha256(wheel.read(name)).hexdigest()
            for name in wheel.namelist() if name.startswith(f"{NAME}/static/")
        }  # fmt: skip
    assert in_wheel == _files(other / NAME / "static")


def test_the_page_client_builds_the_same_every_time(tmp_path):
    # esbuild compiled a module of ours that a plugin points a library's import at
    # (the jQuery stand-in) with other settings when that import reached it first:
    # about one build in eight gave other chunks. Ten builds of one tree agree.
    tree = _copy_sources(tmp_path / "tree")
    builds = set()
    for _ in range(10):
        result = subprocess.run(["node", "build.mjs"], cwd=tree / "labextension", capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        builds.add(tuple(sorted(_files(tree / NAME / "static").items())))
    # Files are named by their content: each differing build shows the names only it has.
    names = [{name for name, _ in build} for build in builds]
    assert len(builds) == 1, [sorted(these - set.intersection(*names)) for these in names]


@pytest.fixture
def installed(request, dists, tmp_path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A fresh virtual environment with one artifact and JupyterLab installed, Node.js out of reach."""
    env_dir = tmp_path / "env"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    env = _without_node(env_dir / "bin")
    env["HOME"] = str(tmp_path / "home")
    env["PIP_CACHE_DIR"] = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    started = time.monotonic()
    result = subprocess.run(
        [env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", dists[request.param], "jupyterlab>=4,<5"],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    print(f"{request.param}: installed with JupyterLab in {time.monotonic() - started:.0f} s without Node.js")
    yield env_dir, env


def _jupyter(env_dir: Path, env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run(
        [env_dir / "bin" / "jupyter", *arguments], env=env, capture_output=True, text=True, timeout=300, cwd=env["HOME"]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)


@pytest.mark.parametrize("installed", ["sdist", "wheel"], indirect=True)
def test_installs_without_node_and_jupyterlab_serves_both_extensions(installed, tmp_path):
    env_dir, env = installed
    Path(env["HOME"]).mkdir(exist_ok=True)
    version = _version()
    assert re.search(rf"{LAB_NAME} v{re.escape(version)} enabled\s+OK \(python, {NAME}\)", _jupyter(env_dir, env, "labextension", "list"))
    assert re.search(rf"{NAME} enabled.*{NAME} {re.escape(version)} OK", _jupyter(env_dir, env, "server", "extension", "list"), re.S)

    # `jupyter server extension disable jupyter_bridge` finds the package (and enable undoes it).
    _jupyter(env_dir, env, "server", "extension", "disable", NAME, "--sys-prefix")
    assert re.search(rf"{NAME} disabled", _jupyter(env_dir, env, "server", "extension", "list"))
    _jupyter(env_dir, env, "server", "extension", "enable", NAME, "--sys-prefix")

    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.py").write_text("import ipywidgets as w\nfrom jupyter_bridge import curdoc\ncurdoc().add_root(w.Label('hello'))\n")
    port, token = free_port(), "packaging-test-token"
    log = tmp_path / "lab.log"
    with log.open("w") as output:
        lab = subprocess.Popen(
            [env_dir / "bin" / "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
             f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    try:
        wait_for_jupyter(base, token, lab, log)
        auth = {"Authorization": f"token {token}"}

        def get(path: str) -> tuple[int, bytes]:
            with urllib.request.urlopen(urllib.request.Request(base + path, headers=auth), timeout=60) as response:
                return response.status, response.read()

        status, body = get("lab/api/extensions")
        (ours,) = [ext for ext in json.loads(body) if ext["name"] == LAB_NAME]
        assert status == 200 and ours["enabled"] and ours["status"] == "ok" and ours["installed"], ours
        # The page JupyterLab serves loads it, from files JupyterLab serves.
        status, body = get("lab")
        page_config = json.loads(re.search(rb'id="jupyter-config-data"[^>]*>(.*?)</script>', body, re.S).group(1))
        (federated,) = [ext for ext in page_config["federated_extensions"] if ext["name"] == LAB_NAME]
        status, body = get(f"lab/extensions/{LAB_NAME}/{federated['load']}")
        assert status == 200 and b"_JUPYTERLAB" in body
        status, body = get("bridge/")
        assert status == 200 and b"hello.py" in body
        status, body = get("bridge/apps/hello.py")
        assert status == 200 and b"page client is not built" not in body
        script = re.search(rb'src="([^"]*/client-[A-Z0-9]+\.js)"', body)
        assert script, body[:2000]
        status, _ = get(script.group(1).decode().lstrip("/"))
        assert status == 200
    finally:
        lab.terminate()
        lab.wait(timeout=60)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")[-4000:]
