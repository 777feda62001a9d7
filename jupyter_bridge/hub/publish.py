"""``jupyter-bridge publish``: the JupyterHub configuration that serves an app as a hub service.

A creator runs it from their own account (their server's terminal); it prints the
lines a hub admin adds to ``jupyterhub_config.py``. Nothing changes until the admin
does: the hub's configuration is theirs to approve. The service it describes

- runs ``jupyter-bridge serve APP`` as the creator's Unix account (``"user"``), with
  the creator's Python, in the app's folder: never as the hub's account;
- is served at ``/services/<name>/`` behind the hub's proxy, viewers logging in with
  the hub's OAuth (:mod:`jupyter_bridge.hub.auth`);
- may be opened by the users and groups given with ``--allow-user`` / ``--allow-group``
  (a role granting ``access:services!service=<name>``), by nobody else.
"""

from __future__ import annotations

import argparse
import getpass
import os
import pprint
import re
import socket
import subprocess
import sys
from typing import Any
from urllib.parse import urlparse

from . import AUTH_MODULE

__all__ = ["add_arguments", "config_from_arguments", "hub_config"]

DESCRIPTION = (
    "Print the lines a JupyterHub admin adds to jupyterhub_config.py to serve APP as the hub "
    "service NAME at /services/NAME/: it runs as your Unix account with your Python, and only "
    "the users and groups you allow may open it, after logging in to the hub."
)

#: What JupyterHub accepts as a service name that is also a clean URL path part.
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="APP", help="the app: a script, a directory app or a notebook")
    parser.add_argument("--name", required=True, help="the service's name: viewers open /services/NAME/")
    parser.add_argument(
        "--allow-group", action="append", default=[], metavar="GROUP", help="a hub group whose users may open the app (repeatable)"
    )
    parser.add_argument(
        "--allow-user", action="append", default=[], metavar="USER", help="a hub user who may open the app (repeatable)"
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the hub's address as browsers see it, e.g. https://hub.example.org (default: "
        "$JUPYTERHUB_PUBLIC_URL or $JUPYTERHUB_HOST, which the hub sets in your server)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="the loopback port the app listens on (default: one free now)"
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        metavar="PATH",
        help="the Python that runs the app, with jupyter_bridge[hub] installed (default: this one)",
    )
    parser.add_argument(
        "--user", default=None, help="the Unix account the app runs as (default: the one running this command)"
    )


def hub_config(
    app: str,
    name: str,
    *,
    public_url: str,
    port: int,
    python: str,
    user: str,
    groups: list[str],
    users: list[str],
    auth_module: str = AUTH_MODULE,
) -> str:
    """The ``jupyterhub_config.py`` lines serving ``app`` as the hub service ``name``."""
    app = os.path.abspath(app)
    # Only the origin matters: inside a user server $JUPYTERHUB_PUBLIC_URL ends in /user/<name>/.
    origin = urlparse(public_url if "://" in public_url else "http://" + public_url)
    host = origin.netloc
    site = f"{origin.scheme}://{host}"
    prefix = f"/services/{name}"
    service: dict[str, Any] = {
        "name": name,
        "url": f"http://127.0.0.1:{port}",
        "command": [
            python, "-m", "jupyter_bridge.cli", "serve", app,
            "--prefix", prefix, "--address", "127.0.0.1", "--port", str(port),
            "--auth-module", auth_module, "--allow-websocket-origin", host,
            # The hub's login cookies are credentials: never in session_context.request.
            "--exclude-cookies", f"service-{name}", "--exclude-cookies", "jupyterhub-session-id",
            "--exclude-cookies", "_xsrf",
        ],  # fmt: skip
        "cwd": os.path.dirname(app),
        "user": user,
        "display": True,
        "oauth_no_confirm": True,
    }
    role: dict[str, Any] = {"name": f"{name}-viewers", "scopes": [f"access:services!service={name}"]}
    if groups:
        role["groups"] = groups
    if users:
        role["users"] = users
    who = ", ".join([*(f"group {g}" for g in groups), *(f"user {u}" for u in users)])
    return (
        f"# {app} as the JupyterHub service {name!r}, for {who}: {site}{prefix}/\n"
        f"# It runs as the Unix user {user!r} (the hub must run as root to switch to it), with {python}.\n"
        f"c.JupyterHub.services.append(\n{_indented(service)}\n)\n"
        f"c.JupyterHub.load_roles.append(\n{_indented(role)}\n)\n"
    )


def config_from_arguments(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The configuration ``publish``'s command line asks for; a bad one exits with one sentence."""
    from ..application import NotAnAppError, build_application

    if not NAME.match(args.name):
        parser.error(f"--name {args.name!r}: use lower-case letters, digits, '-' and '_' (it becomes /services/NAME/)")
    if not args.allow_group and not args.allow_user:
        parser.error("say who may open the app with --allow-group GROUP or --allow-user USER")
    try:
        build_application(args.path)
    except NotAnAppError as error:
        parser.error(str(error))
    public_url = args.public_url or os.environ.get("JUPYTERHUB_PUBLIC_URL") or os.environ.get("JUPYTERHUB_HOST")
    if not public_url:
        parser.error("the hub's address is unknown here; give it with --public-url https://hub.example.org")
    return hub_config(
        args.path,
        args.name,
        auth_module=_auth_module_of(args.python, parser),
        public_url=public_url,
        port=args.port or _free_port(),
        python=args.python,
        user=args.user or getpass.getuser(),
        groups=args.allow_group,
        users=args.allow_user,
    )


def _auth_module_of(python: str, parser: argparse.ArgumentParser) -> str:
    """The auth module file in the environment of ``python``, which also proves it can serve the app."""
    script = "import jupyterhub, jupyter_bridge.hub as hub; print(hub.AUTH_MODULE)"
    try:
        found = subprocess.run([python, "-c", script], capture_output=True, text=True, timeout=120)
    except OSError as error:
        parser.error(f"--python {python}: {error.strerror or error}")
    if found.returncode != 0:
        parser.error(
            f"{python} cannot serve the app: install jupyter_bridge with JupyterHub there "
            "(pip install 'jupyter_bridge[hub]'), or name another with --python"
        )
    return found.stdout.strip()


def _indented(value: Any) -> str:
    return "    " + pprint.pformat(value, sort_dicts=False, width=100, compact=True).replace("\n", "\n    ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
