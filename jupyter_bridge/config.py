"""Where a standalone server's settings come from, and which source set each one.

``jupyter-bridge serve`` merges, lowest priority first:

1. each option's default (:class:`~jupyter_bridge.settings.BridgeSettings`);
2. ``jupyter_bridge_config.py`` and ``jupyter_bridge_config.json`` in each of
   Jupyter's config directories (``jupyter --paths``), system-wide ones first and
   the user's own last; in one directory the ``.json`` wins over the ``.py``, as
   Jupyter's own applications do;
3. ``JUPYTER_BRIDGE_*`` environment variables (the options Bokeh also takes from
   its environment);
4. the file named with ``--config FILE``;
5. the command line.

A file named on purpose outranking the environment, which outranks files found by
searching, is Bokeh's order for its settings. Both kinds of file set options as
Jupyter's do: ``c.BridgeSettings.port = 8080``, or
``{"BridgeSettings": {"port": 8080}}``. Every value is checked where it is read,
so a bad one is reported naming its option, its source and what it accepts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from traitlets.config import Config
from traitlets.config.loader import JSONFileConfigLoader, LazyConfigValue, PyFileConfigLoader

from .settings import BridgeSettings, SettingError, checked_value, close_match, environment_settings

__all__ = [
    "CONFIG_NAME",
    "SECTION",
    "ConfigError",
    "Configuration",
    "configure",
    "found_config_files",
    "generate_config_file",
]

#: The config files' name, without its extension, in each Jupyter config directory.
CONFIG_NAME = "jupyter_bridge_config"
#: The section of a config file that holds the server's options.
SECTION = BridgeSettings.__name__

#: Options whose values ``--show-config`` never prints.
SECRETS = ("secret_key", "cookie_secret")

DEFAULT = "default"


class ConfigError(ValueError):
    """A config file, variable or flag that cannot be used; the message says which and how to fix it."""


@dataclass
class Configuration:
    """The merged settings, and where each value came from."""

    settings: BridgeSettings
    #: option name -> its source, e.g. "command line (--port)"; options left at their default are absent.
    sources: dict[str, str] = field(default_factory=dict)
    #: every source read, lowest priority first.
    read: list[str] = field(default_factory=list)

    def source(self, name: str) -> str:
        return self.sources.get(name, DEFAULT)

    def check(self) -> None:
        """The settings' own check, its message naming where the option to change was set."""
        try:
            self.settings.check()
        except SettingError as error:
            where = self.sources.get(error.name)
            raise ConfigError(f"{error} (set by {where})" if where else str(error)) from None

    def describe(self) -> str:
        """Every option as a config-file line, each with its source: ``--show-config``'s text."""
        lines = [
            "# jupyter-bridge serve settings, merged from (lowest priority first):",
            *(f"#   {where}" for where in ["defaults", *self.read]),
            "# Paste the lines you want into jupyter_bridge_config.py.",
        ]
        assignments = []
        for name in sorted(self.settings.trait_names(config=True)):
            value = getattr(self.settings, name)
            if name in SECRETS:
                said = f"# c.{SECTION}.{name} is {'set (hidden)' if value else 'not set'}"
            else:
                said = f"c.{SECTION}.{name} = {value!r}"
            assignments.append((said, self.source(name)))
        width = max(len(said) for said, _ in assignments)
        lines += [f"{said.ljust(width)}  # {where}" for said, where in assignments]
        return "\n".join(lines) + "\n"


def found_config_files(directories: list[str] | None = None) -> list[Path]:
    """The config files Jupyter's search path holds, lowest priority first."""
    if directories is None:
        from jupyter_core.paths import jupyter_config_path

        directories = jupyter_config_path()
    found = []
    for directory in reversed(directories):  # jupyter_config_path lists the highest priority first
        for extension in (".py", ".json"):
            path = Path(directory) / (CONFIG_NAME + extension)
            if path.is_file():
                found.append(path)
    return found


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The options one config file sets, each checked; ConfigError naming the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file; check the path")
    if path.suffix not in (".py", ".json"):
        raise ConfigError(f"--config {path}: a config file is a .py or a .json file, like {CONFIG_NAME}.py")
    loader_class = PyFileConfigLoader if path.suffix == ".py" else JSONFileConfigLoader
    try:
        config = loader_class(path.name, path=str(path.parent)).load_config()
    except SyntaxError as error:
        raise ConfigError(f"{path}, line {error.lineno}: {error.msg}; fix the file") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}); fix the file") from None
    except Exception as error:  # the file is Python: anything may go wrong in it
        raise ConfigError(f"{path}: running it raised {type(error).__name__}: {error}; fix the file") from None
    return _section(config, path)


def _section(config: Config, path: Path) -> dict[str, Any]:
    for key in config:
        if key != SECTION:
            hint = " (did you mean BridgeSettings?)" if close_match(key, [SECTION]) else ""
            raise ConfigError(
                f"{path}: c.{key} is not read by jupyter-bridge serve{hint}; "
                f"set its options as c.{SECTION}.<option>"
            )
    names = BridgeSettings.class_trait_names(config=True)
    values = {}
    section = config[SECTION] if SECTION in config else {}
    for name, value in section.items():
        where = f"{path}: c.{SECTION}.{name}"
        if name not in names:
            hint = close_match(name, names)
            fix = f"did you mean {hint}?" if hint else "`jupyter-bridge serve --help` lists the options"
            raise ConfigError(f"{where} is not an option; {fix}")
        if isinstance(value, LazyConfigValue):  # c.X.list_option.append(...)
            value = value.get_value(BridgeSettings.class_traits()[name].default())
        try:
            values[name] = checked_value(name, value, where)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return values


def configure(
    arguments: Mapping[str, Any],
    *,
    config_file: str | None = None,
    search_path: list[str] | None = None,
) -> Configuration:
    """The settings ``jupyter-bridge serve`` runs with: every source merged, each value checked.

    ``arguments`` holds the options given on the command line (by trait name);
    ``search_path`` replaces Jupyter's config directories (for tests).
    Raises ConfigError, one sentence naming the option, its source and the fix.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    read: list[str] = []

    def layer(found: Mapping[str, Any], where: str, name_of: Any, *, a_file: bool = False) -> None:
        if found or a_file:
            read.append(where)
        for name, value in found.items():
            values[name] = value
            sources[name] = f"{where}: {name_of(name)}"

    for path in found_config_files(search_path):
        layer(read_config_file(path), str(path), lambda name: f"c.{SECTION}.{name}", a_file=True)
    try:
        environment = environment_settings()
    except ValueError as error:
        raise ConfigError(str(error)) from None
    layer({name: value for name, (value, _) in environment.items()}, "environment",
          lambda name: environment[name][1])  # fmt: skip
    if config_file:
        layer(
            read_config_file(config_file), f"--config {config_file}", lambda name: f"c.{SECTION}.{name}", a_file=True
        )
    layer(dict(arguments), "command line", lambda name: "--" + name.replace("_", "-"))
    return Configuration(BridgeSettings(**values), sources, read)


def generate_config_file(directory: str | None = None, *, overwrite: bool = False) -> Path:
    """Write a config file of every option, commented out at its default; its path.

    Into the user's Jupyter config directory (``~/.jupyter``, or
    ``JUPYTER_CONFIG_DIR``) unless ``directory`` says otherwise, as
    ``jupyter server --generate-config`` does. An existing file is kept unless
    ``overwrite``: ConfigError says how to replace it.
    """
    if directory is None:
        from jupyter_core.paths import jupyter_config_dir

        directory = jupyter_config_dir()
    path = Path(directory) / (CONFIG_NAME + ".py")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists already; edit it, or pass --force to replace it with the defaults")
    path.parent.mkdir(parents=True, exist_ok=True)
    variables = {
        trait.metadata["env"]: name
        for name, trait in BridgeSettings.class_traits(env=lambda env: env is not None).items()
    }
    header = [
        "# Configuration file for jupyter-bridge serve.",
        "#",
        "# Each option below is commented out at its default. An environment variable",
        "# outranks this file; --config FILE and flags outrank both (see --show-config):",
        *(f"#   {variable} sets {name}" for variable, name in sorted(variables.items())),
        "",
        "c = get_config()  # noqa",
        "",
    ]
    path.write_text("\n".join(header) + "\n" + BridgeSettings.class_config_section() + "\n", encoding="utf-8")
    return path
