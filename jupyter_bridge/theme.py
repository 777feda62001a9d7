"""Themes: default trait values per widget class, e.g. a directory app's ``theme.yaml``.

```yaml
attrs:
  IntSlider: {continuous_update: false}
  Button: {button_style: primary}
  bqplot.Figure: {background_style: {fill: black}}
```

A theme applies to widgets created while its document's session runs, for every
trait the code does not set itself. Class names are ipywidgets classes, or dotted
``module.Class`` paths for other widget libraries.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from .settings import close_match

__all__ = ["Theme", "ThemeError", "install"]


class ThemeError(ValueError):
    """A theme that names an unknown class or trait; the text names the file and key."""


class Theme:
    def __init__(self, attrs: dict[str, dict[str, Any]], source: str = "theme") -> None:
        self.source = source
        self._by_class: dict[type, dict[str, Any]] = {}
        if not isinstance(attrs, dict):
            raise ThemeError(f"{source}: 'attrs' must map widget class names to trait values")
        for class_name, values in attrs.items():
            cls = _resolve(str(class_name), source)
            if not isinstance(values, dict):
                raise ThemeError(f"{source}: attrs.{class_name} must map trait names to values")
            traits = cls.class_traits()
            for trait_name, value in values.items():
                trait = traits.get(trait_name)
                if trait is None or trait_name.startswith("_"):
                    hint = close_match(str(trait_name), [t for t in traits if not t.startswith("_")])
                    raise ThemeError(
                        f"{source}: attrs.{class_name}.{trait_name}: {cls.__name__} has no "
                        f"public trait {trait_name!r}" + (f"; did you mean {hint!r}?" if hint else "")
                    )
                _check_value(trait, value, f"{source}: attrs.{class_name}.{trait_name}")
            self._by_class[cls] = dict(values)

    @classmethod
    def from_file(cls, path: str | Path) -> Theme:
        import yaml

        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise ThemeError(f"{path}: not valid YAML ({error})") from None
        if not isinstance(data, dict) or set(data) - {"attrs"}:
            raise ThemeError(f"{path}: a theme has one key, 'attrs'")
        return cls(data.get("attrs") or {}, source=str(path))

    def defaults_for(self, cls: type) -> dict[str, Any]:
        """The theme's values for ``cls``: base classes first, subclasses override."""
        values: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            values.update(self._by_class.get(klass, {}))
        return values


def _resolve(name: str, source: str) -> type:
    from ipywidgets import Widget

    module_name, _, attr = name.rpartition(".")
    try:
        if module_name:
            found = getattr(importlib.import_module(module_name), attr)
        else:
            import ipywidgets

            found = getattr(ipywidgets, name)
    except (ImportError, AttributeError):
        import ipywidgets

        close = None if module_name else close_match(name, [n for n in dir(ipywidgets) if n[:1].isupper()])
        hint = f"; did you mean {close!r}?" if close else ""
        hint += "" if module_name else " (use module.Class for other widget libraries)"
        raise ThemeError(f"{source}: attrs.{name}: no widget class named {name!r}{hint}") from None
    if not (isinstance(found, type) and issubclass(found, Widget)):
        raise ThemeError(f"{source}: attrs.{name}: {name} is not a widget class")
    return found


def _check_value(trait: Any, value: Any, where: str) -> None:
    from traitlets import TraitError

    try:
        trait.validate(None, value)
    except TraitError as error:
        raise ThemeError(f"{where}: {error}") from None
    except Exception:
        pass  # validators that need an instance are checked when the widget is made


_installed = False


def install() -> None:
    """Make ``Widget.__init__`` fill in the current document's theme; idempotent."""
    global _installed
    if _installed:
        return
    from ipywidgets import Widget

    from .document import current_document

    original = Widget.__init__

    def __init__(self: Widget, **kwargs: Any) -> None:
        document = current_document()
        theme = document.theme if document is not None else None
        if theme is not None:
            kwargs = {**theme.defaults_for(type(self)), **kwargs}
        original(self, **kwargs)

    Widget.__init__ = __init__  # type: ignore[method-assign]
    _installed = True
