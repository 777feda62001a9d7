"""Build the browser code in labextension/ (TypeScript) before hatchling packs the wheel.

- the page client (esbuild) into jupyter_bridge/static/;
- the JupyterLab extension (src/lab/, bundled by ``jupyter-builder``, the tool behind
  ``jupyter labextension build``) into jupyter_bridge/labextension/, which the wheel's
  shared-data installs as share/jupyter/labextensions/jupyter-bridge/.

Each is rebuilt only when its sources are newer than its output.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
CLIENT = ROOT / "labextension"
OUTPUT = ROOT / "jupyter_bridge" / "static"
LAB_OUTPUT = ROOT / "jupyter_bridge" / "labextension"
LAB_SOURCES = CLIENT / "src" / "lab"


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def _build_files() -> list[Path]:
    return [*CLIENT.glob("*.json"), *CLIENT.glob("*.mjs")]


def client_is_stale() -> bool:
    manifest = OUTPUT / "manifest.json"
    if not manifest.is_file():
        return True
    sources = [p for p in CLIENT.glob("src/**/*") if LAB_SOURCES not in p.parents]
    return _newest([*sources, *_build_files()]) > manifest.stat().st_mtime


def lab_extension_is_stale() -> bool:
    built = LAB_OUTPUT / "package.json"
    if not built.is_file() or not any(LAB_OUTPUT.glob("static/remoteEntry.*.js")):
        return True
    return _newest([*LAB_SOURCES.glob("**/*"), *_build_files()]) > built.stat().st_mtime


def build_lab_extension(npm: str) -> None:
    """Compile src/lab/ and bundle it as a prebuilt (federated) JupyterLab extension."""
    try:
        from jupyter_builder.federated_extensions import build_labextension
    except ImportError as error:
        raise RuntimeError(
            "building jupyter_bridge's JupyterLab extension needs jupyter-builder "
            "(pip install jupyter-builder, or build with build isolation)"
        ) from error
    subprocess.run([npm, "run", "typecheck"], cwd=CLIENT, check=True)
    subprocess.run(["node", str(CLIENT / "build-lab.mjs")], cwd=CLIENT, check=True)
    logger = logging.getLogger("jupyter_bridge.build")
    logger.addHandler(logging.StreamHandler())
    logger.setLevel(logging.INFO)
    build_labextension(str(CLIENT), logger=logger)


class ClientBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if not (CLIENT / "package.json").is_file():
            return  # an sdist-less checkout without the client: nothing to build
        client_stale = client_is_stale()
        lab_stale = lab_extension_is_stale()
        if not (client_stale or lab_stale):
            return
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise RuntimeError("building jupyter_bridge's browser code needs Node.js and npm on PATH")
        install = "ci" if (CLIENT / "package-lock.json").is_file() else "install"
        subprocess.run([npm, install, "--no-audit", "--no-fund"], cwd=CLIENT, check=True)
        if client_stale:
            subprocess.run([npm, "run", "build"], cwd=CLIENT, check=True)
        if lab_stale:
            build_lab_extension(npm)
