"""``jupyter-bridge`` (also ``jupyter bridge``): serve apps from the command line."""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
import webbrowser
from typing import NoReturn

from .application import NotAnAppError, build_application
from .config import ConfigError, configure, generate_config_file
from .settings import add_arguments, arguments_given, close_match

__all__ = ["main"]

log = logging.getLogger(__name__)

TRACE = 5


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line naming the problem, and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}{self._did_you_mean(message)} (see {self.prog} --help)\n")

    def _did_you_mean(self, message: str) -> str:
        """For an unknown flag (``--prot``), the known flag it most likely meant."""
        if not message.startswith(("unrecognized arguments:", "ambiguous option:")):
            return ""
        flags = {flag for parser in _parsers(self) for action in parser._actions for flag in action.option_strings}
        given = [word.split("=", 1)[0] for word in message.split(":", 1)[1].split() if word.startswith("--")]
        hints = [f"{word}: did you mean {hint}?" for word in given if (hint := close_match(word, flags))]
        return f" ({'; '.join(hints)})" if hints else ""


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """``parser`` and its subcommands' parsers."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(_parsers(sub))
    return found


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="jupyter-bridge",
        description="Serve apps made of Jupyter widgets, one live session per browser tab.",
    )
    from .version import __version__

    parser.add_argument("--version", action="version", version=f"jupyter-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    serve = commands.add_parser(
        "serve",
        help="serve one or more apps",
        description=(
            "Serve apps: each PATH is a Python script that fills curdoc() with widgets. "
            "Every browser connection gets its own fresh session of the app."
        ),
    )
    serve.add_argument(
        "paths", nargs="*", metavar="PATH",
        help="apps to serve, each at /<name>: a script (.py), a directory with main.py, or a notebook (.ipynb)",
    )
    serve.add_argument("--show", action="store_true", help="open the app (or the index) in a browser")
    serve.add_argument(
        "--glob", action="store_true",
        help="treat each PATH as a glob pattern (quote it: 'apps/*'); matches that are not apps are skipped",
    )
    serve.add_argument(
        "--config", metavar="FILE",
        help="read settings from this config file (.py or .json, like jupyter_bridge_config.py), "
        "over those of the config files Jupyter's config directories hold and the environment's",
    )
    serve.add_argument(
        "--show-config", action="store_true",
        help="print the settings merged from defaults, config files, environment and flags, each "
        "with where it came from, and exit",
    )
    serve.add_argument(
        "--generate-config", action="store_true",
        help="write jupyter_bridge_config.py, every option commented out at its default, into "
        "Jupyter's user config directory (~/.jupyter, or JUPYTER_CONFIG_DIR), and exit",
    )
    serve.add_argument("--force", action="store_true", help="with --generate-config: replace an existing file")
    add_arguments(serve)
    serve.add_argument(
        "--args",
        nargs=argparse.REMAINDER,
        default=[],
        metavar="...",
        help="everything after --args is passed to the apps as sys.argv[1:]",
    )
    commands.add_parser(
        "secret",
        help="print a new secret key for JUPYTER_BRIDGE_SECRET_KEY",
        description="Print a new random secret key, for signed session ids and tokens.",
    )
    commands.add_parser(
        "static-dir",
        help="print the folder of the page client's built assets",
        description=(
            "Print the folder holding the page client's built assets, served at "
            "{prefix}/static/, so a proxy can serve them itself. Not "
            "{prefix}/static/nbextensions/: the server finds those in the environment."
        ),
    )
    page = commands.add_parser(
        "html",
        help="write an app's document as a self-contained static page",
        description=(
            "Run the app once, without a server, and write a static HTML page of its "
            "document: widgets render and browser-side links (jslink) work, but no "
            "Python runs. Script, styles and fonts are inline: the page needs no server."
        ),
    )
    page.add_argument("path", metavar="PATH", help="the app: a script, a directory app or a notebook")
    page.add_argument("-o", "--output", metavar="FILE", help="the page to write (default: <app name>.html)")
    page.add_argument("--args", nargs=argparse.REMAINDER, default=[], metavar="...", help="passed to the app as sys.argv[1:]")
    export = commands.add_parser(
        "json",
        help="print an app's document as widget-state JSON",
        description=(
            "Run the app once, without a server, and print its document in Jupyter's "
            "widget-state JSON format (application/vnd.jupyter.widget-state+json)."
        ),
    )
    export.add_argument("path", metavar="PATH", help="the app: a script, a directory app or a notebook")
    export.add_argument("--indent", type=int, default=None, metavar="N", help="indent the JSON by N spaces")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    export.add_argument("--args", nargs=argparse.REMAINDER, default=[], metavar="...", help="passed to the app as sys.argv[1:]")
    from .hub import publish

    publish.add_arguments(
        commands.add_parser(
            "publish",
            help="print the JupyterHub configuration that serves an app as a hub service",
            description=publish.DESCRIPTION,
        )
    )
    return parser


def configure_logging(level: str, format: str | None = None, file: str | None = None) -> None:
    logging.addLevelName(TRACE, "TRACE")
    numeric = TRACE if level == "trace" else getattr(logging, level.upper())
    logging.basicConfig(
        level=numeric,
        format=format or "%(asctime)s %(levelname)s %(name)s: %(message)s",
        filename=file,
    )
    # Tornado logs every request at INFO; keep that for debug level and below.
    logging.getLogger("tornado.access").setLevel(max(numeric, logging.WARNING) if numeric > logging.DEBUG else numeric)


def serve(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .server import Server

    if args.generate_config:
        try:
            print(f"Wrote {generate_config_file(overwrite=args.force)}")
        except (ConfigError, OSError) as error:
            parser.error(str(error))
        return 0
    try:
        configuration = configure(arguments_given(args), config_file=args.config)
    except ConfigError as error:
        parser.error(str(error))
    settings = configuration.settings
    if args.show_config:
        sys.stdout.write(configuration.describe())
    try:
        configuration.check()
    except ConfigError as error:
        parser.error(str(error))
    if args.show_config:
        return 0
    if not args.paths:
        parser.error("name at least one app to serve: jupyter-bridge serve PATH [PATH ...]")
    apps = {}
    for path in _expand(args.paths, args.glob, parser):
        try:
            application = build_application(path, argv=args.args, notebook_layout=settings.notebook_layout)
        except NotAnAppError as error:
            if args.glob:
                log.warning("Skipping %s: %s", path, error)
                continue
            parser.error(str(error))
        url_path = application.url_path()
        if url_path in apps:
            parser.error(f"two apps would be served at {url_path}; rename one of them")
        apps[url_path] = application
    try:
        configure_logging(settings.log_level, settings.log_format, settings.log_file)
    except (OSError, ValueError) as error:
        parser.error(f"--log-file/--log-format: {error}")
    try:
        server = Server(apps, settings=settings)
    except ValueError as error:
        parser.error(str(error))

    def started() -> None:
        print(f"Serving at {server.url}", flush=True)
        if args.show:
            paths = list(server.bridge.apps)
            webbrowser.open(server.app_url(paths[0]) if len(paths) == 1 else server.url)

    try:
        server.run_until_shutdown(on_started=started)
    except OSError as error:
        log.error(
            "Cannot listen on port %s: %s; choose another with --port",
            settings.port,
            error.strerror or error,
        )
        return 1
    return 0


def _expand(patterns: list[str], use_glob: bool, parser: argparse.ArgumentParser) -> list[str]:
    if not use_glob:
        return patterns
    paths = sorted(
        {p for pattern in patterns for p in glob.glob(pattern) if not os.path.basename(p).startswith((".", "_"))}
    )
    if not paths:
        parser.error(f"no files match {' '.join(patterns)}")
    return paths


def export(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``json`` and ``html``: the app's document, without a server."""
    from .export import document_html, document_state
    from .session import AppError

    configure_logging("warning")
    try:
        if args.command == "json":
            text = json.dumps(document_state(args.path, args.args), indent=args.indent) + "\n"
        else:
            text = document_html(args.path, args.args)
    except NotAnAppError as error:
        parser.error(str(error))
    except AppError as error:
        sys.stderr.write(f"{parser.prog}: error: {error}\n{error.traceback}")
        return 1
    if args.command == "html" and not args.output:
        args.output = os.path.splitext(os.path.basename(os.path.normpath(args.path)))[0] + ".html"
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
    else:
        sys.stdout.write(text)
    return 0


def static_dir() -> int:
    """``static-dir``: the page client's folder, for a proxy to serve ``{prefix}/static/``."""
    from .server.bridge import STATIC_DIR

    if not (STATIC_DIR / "manifest.json").is_file():
        sys.stderr.write(
            f"jupyter-bridge: error: the page client is not built in {STATIC_DIR}; "
            "reinstall jupyter_bridge (pip install .) or run `npm ci && npm run build` in labextension/\n"
        )
        return 1
    print(STATIC_DIR)
    return 0


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    raise KeyError(name)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve(args, _subparser(parser, "serve"))
    if args.command == "secret":
        from .tokens import generate_secret_key

        print(generate_secret_key())
        return 0
    if args.command == "static-dir":
        return static_dir()
    if args.command in ("json", "html"):
        return export(args, _subparser(parser, args.command))
    if args.command == "publish":
        from .hub.publish import config_from_arguments

        sys.stdout.write(config_from_arguments(args, _subparser(parser, "publish")))
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
