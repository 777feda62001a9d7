"""Build the page client (labextension/, TypeScript + esbuild) into jupyter_bridge/static/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

ROOT = Path(__file__).resolve().parent
CLIENT = ROOT / "labextension"
OUTPUT = ROOT / "jupyter_bridge" / "static"


def _newest(paths: list[Path]) -> float:
    return max((p.stat().st_mtime for p in paths if p.is_file()), default=0.0)


def client_is_stale() -> bool:
    manifest = OUTPUT / "manifest.json"
    if not manifest.is_file():
        return True
    sources = [*CLIENT.glob("src/**/*"), *CLIENT.glob("*.json"), *CLIENT.glob("*.mjs")]
    return _newest(sources) > manifest.stat().st_mtime


class ClientBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if not (CLIENT / "package.json").is_file():
            return  # an sdist-less checkout without the client: nothing to build
        if not client_is_stale():
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("building jupyter_bridge's page client needs Node.js and npm on PATH")
        install = "ci" if (CLIENT / "package-lock.json").is_file() else "install"
        subprocess.run([npm, install, "--no-audit", "--no-fund"], cwd=CLIENT, check=True)
        subprocess.run([npm, "run", "build"], cwd=CLIENT, check=True)
