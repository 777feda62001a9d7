"""hatch_build.py, the front-end build hatch-jupyter-builder runs: one version, and clear failures."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _hook():
    sys.path.insert(0, str(ROOT))
    try:
        import hatch_build
    finally:
        sys.path.remove(str(ROOT))
    return hatch_build


def test_package_json_has_the_python_version():
    version = re.search(r'__version__ = "([^"]+)"', (ROOT / "jupyter_bridge" / "version.py").read_text()).group(1)
    package = json.loads((ROOT / "labextension" / "package.json").read_text())
    assert package["version"] == _hook().npm_version(version)
    built = ROOT / "jupyter_bridge" / "labextension" / "package.json"
    if built.is_file():  # what JupyterLab shows
        assert json.loads(built.read_text())["version"] == package["version"]


def test_npm_spelling_of_versions():
    npm_version = _hook().npm_version
    assert npm_version("1.2.0") == "1.2.0"
    assert npm_version("1.2.0a1") == "1.2.0-alpha.1"
    assert npm_version("1.2.0rc1") == "1.2.0-rc.1"
    assert npm_version("1.2.0.dev3") == "1.2.0-dev.3"


def _tree(tmp_path: Path) -> Path:
    """A checkout with the TypeScript sources and no built front end."""
    tree = tmp_path / "checkout"
    (tree / "jupyter_bridge").mkdir(parents=True)
    shutil.copy2(ROOT / "hatch_build.py", tree)
    shutil.copy2(ROOT / "jupyter_bridge" / "version.py", tree / "jupyter_bridge")
    shutil.copytree(ROOT / "labextension", tree / "labextension", ignore=shutil.ignore_patterns("node_modules", "lib"))
    return tree


def _build(tree: Path, path: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path}
    env.pop("JUPYTER_BRIDGE_FORCE_FRONT_END_BUILD", None)
    code = "import hatch_build; hatch_build.build_front_end('wheel', 'standard')"
    return subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_a_missing_front_end_without_node_fails_the_build_naming_the_fix(tmp_path):
    tree = _tree(tmp_path)
    no_node = os.pathsep.join(
        folder for folder in os.environ["PATH"].split(os.pathsep) if not (Path(folder) / "node").exists()
    )
    result = _build(tree, no_node)
    assert result.returncode != 0
    assert "jupyter_bridge/static, jupyter_bridge/labextension" in result.stderr
    assert "needs Node.js 20+ and npm on PATH" in result.stderr and "from a wheel or an sdist" in result.stderr


def test_versions_that_differ_fail_the_build(tmp_path):
    tree = _tree(tmp_path)
    package = tree / "labextension" / "package.json"
    package.write_text(package.read_text().replace('"version": "', '"version": "9', 1))
    result = _build(tree, os.environ["PATH"])
    assert result.returncode != 0
    assert "labextension/package.json's version is 9" in result.stderr and "set package.json's to" in result.stderr


@pytest.mark.skipif(shutil.which("npm") is None or not (ROOT / "labextension" / "node_modules").is_dir(), reason="needs npm and labextension/node_modules")
def test_a_release_build_replaces_an_editable_installs_development_build(tmp_path):
    tree = _tree(tmp_path)
    subprocess.run(["cp", "-a", str(ROOT / "labextension" / "node_modules"), str(tree / "labextension")], check=True)
    code = "import sys, hatch_build; hatch_build.build_front_end('wheel', sys.argv[1], development=sys.argv[1] == 'editable')"
    for version in ("editable", "standard"):
        result = subprocess.run([sys.executable, "-c", code, version], cwd=tree, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-3000:]
        if version == "editable":
            assert (tree / "jupyter_bridge" / "labextension" / "build_log.json").is_file()
    assert not (tree / "jupyter_bridge" / "labextension" / "build_log.json").exists()
    assert (tree / "jupyter_bridge" / "static" / "manifest.json").is_file()
