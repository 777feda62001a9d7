"""docs/screenshots.py: pictures of the example pages, light and dark, as a script makes them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from conftest import EXAMPLES, ROOT
from support import CHROMIUM, serving

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


def load_script():
    spec = importlib.util.spec_from_file_location("screenshots", ROOT / "docs" / "screenshots.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_the_script_shoots_each_page_light_and_dark(tmp_path):
    screenshots = load_script()
    with serving(str(EXAMPLES / "sliders.py"), str(EXAMPLES / "counter.py"), "--admin") as base:
        paths = screenshots.page_paths(base)
        assert paths == ["/counter", "/sliders", "/", "/admin"]
        written = screenshots.shoot(base, ["/sliders"], tmp_path)
    assert [p.name for p in written] == ["sliders-light.png", "sliders-dark.png"]
    light, dark = (p.read_bytes() for p in written)
    assert light.startswith(b"\x89PNG") and dark.startswith(b"\x89PNG") and light != dark


def test_every_example_has_its_pictures():
    images = ROOT / "docs" / "images"
    folders = [EXAMPLES, EXAMPLES / "widgets", EXAMPLES / "widgets" / "notebooks"]
    names = {
        p.stem if p.is_file() else p.name
        for folder in folders if folder.is_dir() for p in folder.iterdir()
        if (p.suffix in (".py", ".ipynb") or (p / "main.py").is_file()) and not p.name.startswith(("_", "."))
    }
    missing = sorted(f"{name}-{scheme}.png" for name in names for scheme in ("light", "dark")
                     if not (images / f"{name}-{scheme}.png").is_file())
    assert missing == [], f"run `python docs/screenshots.py`: {missing}"
