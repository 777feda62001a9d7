"""Build the browser code in labextension/ (TypeScript) before hatchling packs a wheel or sdist.

hatch-jupyter-builder calls :func:`build_front_end` (pyproject.toml's
``[tool.hatch.build.hooks.jupyter-builder]``), then checks its ``ensured-targets``. It makes

- the page client (esbuild) in jupyter_bridge/static/;
- the JupyterLab extension (src/lab/, bundled by ``jupyter-builder``, the tool behind
  ``jupyter labextension build``) in jupyter_bridge/labextension/, which the wheel's
  shared-data installs as share/jupyter/labextensions/jupyter-bridge/.

Each is rebuilt only when it is missing or its sources are newer than it. An sdist
carries both built: the wheel built from it, and any install from it, skip this
(``skip-if-exists``: PKG-INFO and the built files) and need no Node.js. ``npm ci`` runs
only when node_modules is missing or older than package-lock.json.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CLIENT = ROOT / "labextension"
OUTPUT = ROOT / "jupyter_bridge" / "static"
LAB_OUTPUT = ROOT / "jupyter_bridge" / "labextension"
LAB_SOURCES = CLIENT / "src" / "lab"
VERSION_FILE = ROOT / "jupyter_bridge" / "version.py"

log = logging.getLogger("jupyter_bridge.build")


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def _build_files() -> list[Path]:
    return [*CLIENT.glob("*.json"), *CLIENT.glob("*.mjs"), *CLIENT.glob("*.cjs")]


def client_is_stale() -> bool:
    built = [OUTPUT / "manifest.json", OUTPUT / "third-party-licenses.json"]
    if not all(p.is_file() for p in built):
        return True
    sources = [p for p in CLIENT.glob("src/**/*") if LAB_SOURCES not in p.parents]
    return _newest([*sources, *_build_files()]) > min(p.stat().st_mtime for p in built)


def lab_extension_is_stale(development: bool = False) -> bool:
    built = LAB_OUTPUT / "package.json"
    if not built.is_file() or not any(LAB_OUTPUT.glob("static/remoteEntry.*.js")):
        return True
    if not development and (LAB_OUTPUT / "build_log.json").is_file():
        return True  # a development build (an editable install's) is never packed
    return _newest([*LAB_SOURCES.glob("**/*"), *_build_files()]) > built.stat().st_mtime


def python_version() -> str:
    match = re.search(r'__version__ = "([^"]+)"', VERSION_FILE.read_text(encoding="utf-8"))
    assert match, f"{VERSION_FILE} names no __version__"
    return match.group(1)


def npm_version(python: str) -> str:
    """The npm spelling of a Python version: 0.2.0a1 -> 0.2.0-alpha.1 (what package.json holds)."""
    match = re.fullmatch(r"(\d+\.\d+\.\d+)(?:(a|b|rc)(\d+))?(?:\.dev(\d+))?", python)
    if match is None:
        raise ValueError(f"version {python!r} has no npm spelling; use X.Y.Z, X.Y.ZaN, X.Y.ZbN or X.Y.ZrcN")
    release, kind, number, dev = match.groups()
    if kind:
        release += f"-{dict(a='alpha', b='beta', rc='rc')[kind]}.{number}"
    if dev:
        release += f"{'.' if kind else '-'}dev.{dev}"
    return release


def check_versions() -> None:
    """package.json's version must be version.py's: JupyterLab shows the former, pip the latter."""
    package = json.loads((CLIENT / "package.json").read_text(encoding="utf-8"))["version"]
    expected = npm_version(python_version())
    if package != expected:
        raise RuntimeError(
            f"labextension/package.json's version is {package} but jupyter_bridge/version.py's is "
            f"{python_version()}: set package.json's to {expected}"
        )


def _run(*command: str) -> None:
    log.info("jupyter_bridge build: %s", " ".join(command))
    subprocess.run(command, cwd=CLIENT, check=True)


def _install_node_packages(npm: str) -> None:
    """``npm ci``, unless node_modules already holds what package-lock.json names."""
    lock = CLIENT / "package-lock.json"
    installed = CLIENT / "node_modules" / ".package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= _newest([lock, CLIENT / "package.json"]):
        return
    _run(npm, "ci" if lock.is_file() else "install", "--no-audit", "--no-fund")


def build_front_end(target_name: str, version: str, development: str | bool = False, force: bool = False) -> None:
    """hatch-jupyter-builder's build function: build whatever is missing or stale."""
    if not (CLIENT / "package.json").is_file():
        return  # a tree without the TypeScript sources: ensured-targets says what is missing
    check_versions()
    if os.environ.get("JUPYTER_BRIDGE_FORCE_FRONT_END_BUILD"):
        force = True
    development = str(development).lower() == "true"
    client_stale = force or client_is_stale()
    lab_stale = force or lab_extension_is_stale(development)
    if not (client_stale or lab_stale):
        log.info("jupyter_bridge's front end is built and newer than its sources")
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        missing = [str(p.relative_to(ROOT)) for p, stale in ((OUTPUT, client_stale), (LAB_OUTPUT, lab_stale)) if stale]
        raise RuntimeError(
            f"jupyter_bridge's browser code ({', '.join(missing)}) is missing or older than its "
            "sources in labextension/, and building it needs Node.js 20+ and npm on PATH: install "
            "them, or install jupyter_bridge from a wheel or an sdist, which carry it built"
        )
    _install_node_packages(npm)
    if client_stale:
        _run(npm, "run", "build")
    if lab_stale:
        build_lab_extension(npm, development=development)


def build_lab_extension(npm: str, development: bool = False) -> None:
    """Compile src/lab/ and bundle it as a prebuilt (federated) JupyterLab extension."""
    try:
        from jupyter_builder.federated_extensions import build_labextension
    except ImportError as error:
        raise RuntimeError(
            "building jupyter_bridge's JupyterLab extension needs jupyter-builder "
            "(pip install jupyter-builder, or build with build isolation)"
        ) from error
    _run(npm, "run", "typecheck")
    _run("node", str(CLIENT / "build-lab.mjs"))
    build_labextension(str(CLIENT), logger=log, development=development)
