"""docs/deploy.md, process managers: deploy/supervisor/ run for real, deploy/systemd/ checked.

supervisord (the ``supervisor`` pip package) runs in the foreground with the
guide's program file included; systemd cannot run here, so its unit is checked
with ``systemd-analyze verify`` and its ExecStart line is run as systemd would.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from test_nginx import (
    DEPLOY,
    GUIDE,
    SLIDERS,
    Processes,
    free_port,
    processes,  # noqa: F401 (a fixture)
    render,
    run_async,
    wait_for_http,
    wait_for_log,
)

from jupyter_bridge.tokens import generate_secret_key

SUPERVISORD = shutil.which("supervisord")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
#: The console script `pip install` made next to this Python, as in a server's venv.
JUPYTER_BRIDGE = Path(sys.executable).parent / "jupyter-bridge"


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` free loopback ports in a row."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = s.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
    raise RuntimeError(f"no {count} free ports in a row")


def health(port: int) -> dict:
    import json

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/apps/healthz", timeout=30) as response:
        return json.load(response)


def answers(port: int) -> bool:
    try:
        health(port)
        return True
    except OSError:
        return False


def command(script: Path = JUPYTER_BRIDGE) -> str:
    """How to start `jupyter-bridge` here: the console script, or this Python with -m."""
    return str(script) if script.exists() else f"{sys.executable} -m jupyter_bridge.cli"


def test_guide_shows_the_process_manager_files():
    guide = GUIDE.read_text()
    assert "deploy/supervisor/jupyter-bridge.conf" in guide and "deploy/systemd/jupyter-bridge@.service" in guide


@pytest.mark.skipif(SUPERVISORD is None, reason="supervisor is not installed (pip install supervisor)")
def test_supervisord_starts_restarts_and_stops_three_servers(processes, tmp_path):  # noqa: F811
    first = consecutive_free_ports(3)
    ports = [first, first + 1, first + 2]
    key = generate_secret_key()
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "jupyter-bridge.conf").write_text(render_program(tmp_path, first, key))
    main = tmp_path / "supervisord.conf"
    main.write_text(f"""
[supervisord]
logfile={tmp_path}/supervisord.log
pidfile={tmp_path}/supervisord.pid
childlogdir={tmp_path}

[unix_http_server]
file={tmp_path}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{tmp_path}/supervisor.sock

[include]
files = {tmp_path}/conf.d/*.conf
""")
    supervisord = processes.start([SUPERVISORD, "-n", "-c", str(main)], output=tmp_path / "supervisord.out")
    try:
        check_supervised_servers(main, supervisord, ports, tmp_path)
    finally:
        # supervisord puts each server in a process group of its own: should it
        # die before its servers, end them here, by the pid each one reports.
        Processes.stop(supervisord)
        for port in ports:
            if answers(port):
                os.kill(health(port)["pid"], signal.SIGKILL)


def check_supervised_servers(main: Path, supervisord: subprocess.Popen, ports: list[int], tmp_path: Path) -> None:
    for port in ports:
        wait_for_http(f"http://127.0.0.1:{port}/apps/healthz", supervisord)
    # supervisord calls a process RUNNING once it has stayed up for startsecs (1 s).
    deadline = time.monotonic() + 60
    while (status := supervisorctl(main, "status")).count("RUNNING") < 3:
        assert time.monotonic() < deadline, status
        time.sleep(0.5)

    # A page from one server, its socket on another: they share the key from the config.
    async def page_and_socket_on_two_servers() -> None:
        from wsclient import Client

        client = Client(f"http://127.0.0.1:{ports[0]}/apps", "sliders")
        await client.load_page()
        await client.connect(origin="http://example.com", ws_base=f"ws://127.0.0.1:{ports[1]}")
        await client.wait_for(lambda: client.doc is not None, timeout=30)
        await client.set_state("IntSliderModel", value=21)
        assert client.model("LabelModel")["value"] == "value*2 = 42"
        await client.close()

    run_async(page_and_socket_on_two_servers())

    # A server that dies is started again.
    pid = health(ports[2])["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while not (answers(ports[2]) and health(ports[2])["pid"] != pid):
        assert time.monotonic() < deadline, "supervisord did not restart the server"
        time.sleep(0.5)

    # Stopping supervisord stops every server with SIGTERM: each shuts down cleanly.
    supervisord.send_signal(signal.SIGTERM)
    assert supervisord.wait(timeout=60) == 0
    assert not any(answers(port) for port in ports)
    for port in ports:
        wait_for_log(tmp_path / f"jupyter-bridge-{port}.log", "shutting down")


def render_program(tmp_path: Path, first_port: int, key: str) -> str:
    return render(DEPLOY / "supervisor" / "jupyter-bridge.conf", {
        "/srv/jupyter-bridge/venv/bin/jupyter-bridge": command(),
        "/srv/jupyter-bridge/sliders.py": str(SLIDERS),
        "numprocs_start=6": f"numprocs_start={first_port}",
        "--port 500%(process_num)d": "--port %(process_num)d",
        'JUPYTER_BRIDGE_SECRET_KEY="CHANGE-ME"': f'JUPYTER_BRIDGE_SECRET_KEY="{key}"',
        "directory=/srv/jupyter-bridge": f"directory={tmp_path}",
        "user=jupyter-bridge\n": "",  # the test runs as whoever runs it
        "/var/log/supervisor/%(program_name)s-": f"{tmp_path}/%(program_name)s-",
    })


def supervisorctl(config: Path, *args: str) -> str:
    result = subprocess.run(
        [str(Path(SUPERVISORD).parent / "supervisorctl"), "-c", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )
    return result.stdout + result.stderr


def test_supervisor_placeholder_key_keeps_the_servers_from_starting(tmp_path):
    """Whoever forgets to set the key gets servers that refuse to start, not a known key."""
    program = (DEPLOY / "supervisor" / "jupyter-bridge.conf").read_text()
    key = program.split('JUPYTER_BRIDGE_SECRET_KEY="', 1)[1].split('"', 1)[0]
    result = subprocess.run(
        [*command().split(), "serve", str(SLIDERS), "--port", "0", "--session-ids", "signed"],
        env={**os.environ, "JUPYTER_BRIDGE_SECRET_KEY": key}, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2 and "JUPYTER_BRIDGE_SECRET_KEY is too short" in result.stderr


def unit_for_this_machine(tmp_path: Path, key: str) -> str:
    (tmp_path / "env").write_text(f"JUPYTER_BRIDGE_SECRET_KEY={key}\n")
    return render(DEPLOY / "systemd" / "jupyter-bridge@.service", {
        "ExecStart=/srv/jupyter-bridge/venv/bin/jupyter-bridge": f"ExecStart={command()}",
        "/srv/jupyter-bridge/sliders.py": str(SLIDERS),
        "WorkingDirectory=/srv/jupyter-bridge": f"WorkingDirectory={tmp_path}",
        "EnvironmentFile=/etc/jupyter-bridge/env": f"EnvironmentFile={tmp_path}/env",
    })


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_systemd_unit_verifies(tmp_path):
    unit = tmp_path / "jupyter-bridge@5006.service"
    unit.write_text(unit_for_this_machine(tmp_path, generate_secret_key()))
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", str(unit)], capture_output=True, text=True, timeout=120)
    # verify exits 0 on unknown keys too, with a warning: both must be clean.
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr


def test_systemd_exec_start_serves_and_stops_on_sigterm(processes, tmp_path):  # noqa: F811
    """ExecStart as systemd runs it: %i the port, the EnvironmentFile's variables, SIGTERM to stop."""
    key = generate_secret_key()
    service = dict(
        line.split("=", 1) for line in unit_for_this_machine(tmp_path, key).replace("\\\n", " ").splitlines()
        if "=" in line and not line.startswith("#")
    )
    port = free_port()
    argv = [arg.replace("%i", str(port)) for arg in shlex.split(service["ExecStart"])]
    env_file = Path(service["EnvironmentFile"])
    environment = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
    server = processes.start(
        argv, output=tmp_path / "server.out", cwd=service["WorkingDirectory"], env={**os.environ, **environment}
    )
    wait_for_http(f"http://127.0.0.1:{port}/apps/healthz", server)
    assert health(port)["status"] == "ok"
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=int(service["TimeoutStopSec"])) == 0

