"""docs/deploy.md, Apache: deploy/apache/jupyter-bridge.conf in front of a real server, driven by Chromium.

Debian's apache2 normally starts through apache2ctl and its envvars; the test
needs neither: it writes a self-contained main config (modules loaded from
/usr/lib/apache2/modules, pid, logs and locks in tmp_path) that includes the
guide's site file, and runs ``apache2 -DFOREGROUND`` on a free loopback port.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest
from test_nginx import (
    DEPLOY,
    FORGED,
    GUIDE,
    PREFIX_FLAGS,
    Processes,
    admin_status,
    free_port,
    needs_chromium,
    new_page,
    open_sliders,
    page_token,
    processes,  # noqa: F401 (a fixture)
    quiet_socket_survives,
    render,
    slide_and_check,
    start_server,
    wait_for_http,
)

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
#: What the guide's site file needs, and what any Apache needs to run it.
NEEDED = ["mpm_event", "authn_core", "authz_core", "proxy", "proxy_http", "headers"]

needs_apache = pytest.mark.skipif(
    not Path(APACHE).exists() or not all((MODULES / f"mod_{name}.so").exists() for name in NEEDED),
    reason="apache2 (Debian's apache2-bin) is not installed",
)


def start_apache(started: Processes, tmp_path: Path, port: int, site: str, extra: str = "") -> subprocess.Popen:
    run = tmp_path / "apache"
    run.mkdir()
    (run / "site.conf").write_text(site)
    # Started as root, Apache's children take on a user: Debian's www-data, or nobody.
    user = ""
    if os.geteuid() == 0:
        name = next(n for n in ("www-data", "nobody") if _exists(n))
        user = f"User {name}\nGroup {grp.getgrgid(pwd.getpwnam(name).pw_gid).gr_name}"
    modules = "\n".join(f"LoadModule {name}_module {MODULES}/mod_{name}.so" for name in NEEDED)
    (run / "apache2.conf").write_text(f"""
ServerRoot "{run}"
DefaultRuntimeDir "{run}"
PidFile "{run}/apache2.pid"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
{user}
{modules}
ErrorLog "{run}/error.log"
LogLevel warn
LogFormat "%h \\"%r\\" %>s" brief
CustomLog "{run}/access.log" brief
{extra}
Include "{run}/site.conf"
""")
    config = str(run / "apache2.conf")
    test = subprocess.run([APACHE, "-t", "-f", config], capture_output=True, text=True, timeout=60)
    assert test.returncode == 0, test.stderr
    return started.start([APACHE, "-f", config, "-DFOREGROUND"], output=run / "out")


def _exists(user: str) -> bool:
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def test_guide_shows_the_apache_site():
    assert "deploy/apache/jupyter-bridge.conf" in GUIDE.read_text()


@needs_apache
@needs_chromium
def test_apache_at_a_prefix_serves_pages_and_sockets(processes, tmp_path, browser):  # noqa: F811
    apache_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{apache_port}"
    start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public)
    site = render(DEPLOY / "apache" / "jupyter-bridge.conf", {
        "<VirtualHost *:80>": f"<VirtualHost {public}>",
        "127.0.0.1:5006": f"127.0.0.1:{server_port}",
    })
    apache = start_apache(processes, tmp_path, apache_port, site)
    wait_for_http(f"http://{public}/apps/healthz", apache)

    page = new_page(browser)
    open_sliders(page, f"http://{public}/apps/sliders")
    assert page.evaluate("window.jupyterBridge.connection.socket.url").startswith(f"ws://{public}/apps/sliders/ws")
    slide_and_check(page, 3)
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()

    # --use-xheaders: the app sees the browser's address, not Apache's.
    token = page_token(f"http://{public}/apps/sliders", source="127.0.0.5")
    assert token["remote_ip"] == "127.0.0.5"
    assert token["headers"]["X-Forwarded-Proto"] == "http"


@needs_apache
@pytest.mark.parametrize("keep_alive, kept", [(500, True), (0, False)])
def test_keep_alive_must_come_before_apaches_timeout(processes, tmp_path, keep_alive, kept):  # noqa: F811
    """Apache cuts a socket quieter than its Timeout; the server's pings keep it busy."""
    apache_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{apache_port}"
    start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public, extra=("--keep-alive", str(keep_alive)))
    site = render(DEPLOY / "apache" / "jupyter-bridge.conf", {
        "<VirtualHost *:80>": f"<VirtualHost {public}>",
        "127.0.0.1:5006": f"127.0.0.1:{server_port}",
    })
    apache = start_apache(processes, tmp_path, apache_port, site, extra="Timeout 2")
    wait_for_http(f"http://{public}/apps/healthz", apache)

    assert quiet_socket_survives(public) is kept


@needs_apache
def test_a_client_cannot_name_its_own_address_or_scheme_through_apache(processes, tmp_path):  # noqa: F811
    """Apache passes a client's own X-Real-Ip and X-Scheme on unless told not to; --use-xheaders believes them."""
    apache_port, server_port = free_port(), free_port()
    public = f"127.0.0.1:{apache_port}"
    start_server(processes, tmp_path, PREFIX_FLAGS, server_port, public, extra=("--admin",))
    site = render(DEPLOY / "apache" / "jupyter-bridge.conf", {
        "<VirtualHost *:80>": f"<VirtualHost {public}>",
        "127.0.0.1:5006": f"127.0.0.1:{server_port}",
    })
    apache = start_apache(processes, tmp_path, apache_port, site)
    wait_for_http(f"http://{public}/apps/healthz", apache)
    token = page_token(f"http://{public}/apps/sliders", source="127.0.0.5", headers=FORGED)
    assert token["remote_ip"] == "127.0.0.5" and token["protocol"] == "http"
    assert admin_status(f"http://{public}/apps/admin", FORGED) == 403
