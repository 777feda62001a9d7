"""Where the front ends of installed widget packages are, for pages and exports.

A widget package installs its browser code as an AMD module,
``share/jupyter/nbextensions/<name>/index.js``, or only as a prebuilt JupyterLab
extension, ``share/jupyter/labextensions/<name>/`` (a webpack federated
container). Both are looked up in every folder Jupyter knows (``jupyter --paths``),
first match wins; nothing outside those folders is ever read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jupyter_core.paths import jupyter_path

__all__ = ["LAB_MODULE", "federated_module", "lab_container", "labextension_entry", "widget_module_file"]


def widget_module_file(relative: str) -> str | None:
    """The installed file ``<package>/<file>`` of a widget package's front end, or None."""
    if not _safe(relative):
        return None
    found = _file_under(jupyter_path("nbextensions"), relative)
    if found is None:
        package, rest = _split_package(relative)
        if package is not None and rest not in ("index.js", LAB_MODULE) and lab_container(package) is not None:
            found = _file_under(jupyter_path("labextensions"), f"{package}/{rest}")
    return found


def _safe(relative: str) -> bool:
    return bool(relative) and not relative.startswith("/") and "\\" not in relative


def _file_under(roots: list[str], relative: str) -> str | None:
    for root in roots:
        root_real = os.path.realpath(root)
        candidate = os.path.realpath(os.path.join(root_real, relative))
        if candidate.startswith(root_real + os.sep) and os.path.isfile(candidate):
            return candidate
    return None


def _split_package(relative: str) -> tuple[str | None, str]:
    """``name/file`` or ``@scope/name/file`` -> (package, file)."""
    parts = relative.split("/")
    size = 2 if parts[0].startswith("@") else 1
    if len(parts) <= size or any(part in ("", ".", "..") for part in parts[:size]):
        return None, ""
    return "/".join(parts[:size]), "/".join(parts[size:])


#: ``<package>/labextension.js``: the AMD module that loads a package's federated
#: container even when it has an AMD module too. Pages ask for it when the AMD
#: module needs modules that only the classic Notebook's ``extension.js`` maps
#: (pythreejs's ``three``).
LAB_MODULE = "labextension.js"


def labextension_entry(package: str) -> str | None:
    """The federated container file of an installed JupyterLab extension, relative to its folder.

    ``None`` unless ``package`` has a prebuilt extension and no AMD module (an
    nbextension), which pages load instead.
    """
    if _file_under(jupyter_path("nbextensions"), f"{package}/index.js") is not None:
        return None
    return lab_container(package)


def lab_container(package: str) -> str | None:
    """The federated container file of ``package``'s JupyterLab extension, if it has one."""
    found = _file_under(jupyter_path("labextensions"), f"{package}/package.json")
    if found is None:
        return None
    try:
        entry = json.loads(Path(found).read_text(encoding="utf-8"))["jupyterlab"]["_build"]["load"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # Extensions built on Windows name the file with backslashes (pythreejs 2.4).
    entry = str(entry).replace("\\", "/").removeprefix("./")
    return entry if _safe(entry) and ".." not in entry.split("/") else None


def federated_module(relative: str) -> str | None:
    """The AMD module served as ``<package>/index.js`` of a labextension-only package."""
    package, rest = _split_package(relative) if _safe(relative) else (None, "")
    entry = None
    if package is not None and rest == "index.js":
        entry = labextension_entry(package)
    elif package is not None and rest == LAB_MODULE:
        entry = lab_container(package)
    if entry is None:
        return None
    arguments = json.dumps(package) + ", " + json.dumps(entry)
    return (
        f"// {package} installs only a JupyterLab extension: load its container ({entry}).\n"
        f'define(["@jupyter-bridge/federated"], function (load) {{ return load({arguments}); }});\n'
    )
