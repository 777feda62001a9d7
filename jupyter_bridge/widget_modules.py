"""Where the front ends of installed widget packages are, for pages and exports.

A widget package installs its browser code as an AMD module,
``share/jupyter/nbextensions/<name>/index.js``, or as a prebuilt JupyterLab
extension, ``share/jupyter/labextensions/<name>/`` (a webpack federated
container), or both. Both are looked up in every folder Jupyter knows
(``jupyter --paths``), first match wins; nothing outside those folders is ever read.

A page loads a package's AMD module when it has one the page can run, else its
container. An AMD module the page cannot run is one that needs AMD modules no
installed package provides: pythreejs's and ipyvolume's need ``three``, which
only the classic Notebook's ``extension.js`` of each maps to a copy in its own
folder. Their containers carry ``three`` and share one copy of it, as in
JupyterLab, so those packages are served from their containers.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from jupyter_core.paths import jupyter_path

__all__ = ["amd_dependencies", "federated_module", "lab_container", "labextension_entry", "widget_module_file"]

#: AMD ids every page defines itself (modules.ts) or RequireJS provides.
PAGE_AMD_MODULES = frozenset(
    {"@jupyter-widgets/base", "@jupyter-widgets/controls", "@jupyter-widgets/output", "require", "exports", "module"}
)

# webpack's AMD output opens with define([...deps], factory); the list is all we need.
_DEFINE = re.compile(r"""\bdefine\(\s*(\[[^\]]*\])""")
_HEAD = 4096


def widget_module_file(relative: str) -> str | None:
    """The installed file ``<package>/<file>`` of a widget package's front end, or None.

    A package served from its container has its files in its labextension
    folder; its ``index.js`` is :func:`federated_module`'s, not a file.
    """
    if not _safe(relative):
        return None
    package, rest = _split_package(relative)
    if package is not None and labextension_entry(package) is not None:
        return None if rest == "index.js" else _file_under(jupyter_path("labextensions"), relative)
    return _file_under(jupyter_path("nbextensions"), relative)


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


def amd_dependencies(path: str) -> list[str]:
    """The AMD ids the module in ``path`` names in its ``define([...])`` (webpack puts it first)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            head = file.read(_HEAD)
    except OSError:
        return []
    found = _DEFINE.search(head)
    return re.findall(r"""["']([^"']+)["']""", found.group(1)) if found is not None else []


def _provided(amd_id: str, roots: list[str], seen: frozenset[str]) -> bool:
    """Whether a page can load ``amd_id`` over AMD: its own, or an installed nbextension's module.

    A package whose own AMD module cannot run does not count (it is loaded
    from its container, if at all, as a promise of its classes).
    """
    if amd_id in PAGE_AMD_MODULES:
        return True
    if not _safe(amd_id):
        return False
    package, _ = _split_package(amd_id + "/index.js")
    if package == amd_id and _file_under(roots, f"{amd_id}/index.js") is not None:
        return _amd_runs(package, roots, seen)
    return _file_under(roots, f"{amd_id}.js") is not None


def _amd_runs(package: str, roots: list[str], seen: frozenset[str] = frozenset()) -> bool:
    """Whether ``package``'s AMD module, and every AMD module it needs, can be loaded by a page."""
    index = _file_under(roots, f"{package}/index.js")
    if index is None:
        return False
    if package in seen:  # a cycle: judged where it started
        return True
    return all(_provided(amd_id, roots, seen | {package}) for amd_id in amd_dependencies(index))


def labextension_entry(package: str) -> str | None:
    """The container file a page loads ``package`` from, relative to its folder; None for its AMD module.

    A package is loaded from its prebuilt JupyterLab extension when it has no
    AMD module, or one that needs an AMD module nothing installed provides.
    """
    if _amd_runs(package, jupyter_path("nbextensions")):
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
    """The AMD module served as ``<package>/index.js`` of a package loaded from its container."""
    package, rest = _split_package(relative) if _safe(relative) else (None, "")
    entry = labextension_entry(package) if package is not None and rest == "index.js" else None
    if entry is None:
        return None
    arguments = json.dumps(package) + ", " + json.dumps(entry)
    return (
        f"// {package} is loaded from its JupyterLab extension's container ({entry}).\n"
        f'define(["@jupyter-bridge/federated"], function (load) {{ return load({arguments}); }});\n'
    )
