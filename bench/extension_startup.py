"""How much the jupyter_bridge server extension adds to ``jupyter server`` start-up.

Starts ``jupyter server`` repeatedly with the extension enabled and disabled
(``--ServerApp.jpserver_extensions``), alternating, and times each start from
spawning the process until ``/api/status`` answers. Prints the medians side by
side, plus the first ``/bridge/`` request of the enabled runs (where the
extension builds its routes). Figures, not pass/fail.

    python bench/extension_startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from sessions import ROOT, free_port, stop_process

TOKEN = "bench-token"


def get(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def start_once(enabled: bool, workdir: Path) -> tuple[float, float | None]:
    """(seconds until the API answers, seconds of the first /bridge/ request or None)."""
    port = free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(workdir / "config"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    args = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
        "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={workdir}",
        f"--ServerApp.jpserver_extensions=jupyter_bridge={enabled}",
    ]  # fmt: skip
    base = f"http://127.0.0.1:{port}/"
    began = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"jupyter server exited with {process.returncode}")
            if time.perf_counter() - began > 120:
                raise RuntimeError("jupyter server did not answer within 120 s")
            try:
                if get(base + "api/status") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.01)
        startup = time.perf_counter() - began
        first_bridge = None
        if enabled:
            t = time.perf_counter()
            status = get(base + "bridge/")
            first_bridge = time.perf_counter() - t
            if status != 200:
                raise RuntimeError(f"/bridge/ answered {status}")
        return startup, first_bridge
    finally:
        stop_process(process)


_IN_PROCESS = """\
import time
import jupyter_server.serverapp, jupyter_server.extension.application  # Jupyter's own cost
t = time.perf_counter()
import jupyter_bridge
(point,) = jupyter_bridge._jupyter_server_extension_points()
point["app"]()
print(time.perf_counter() - t)
"""


def in_process_cost() -> float:
    """Seconds to import the extension and create it, after Jupyter's own imports."""
    result = subprocess.run(
        [sys.executable, "-c", _IN_PROCESS], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="starts per configuration (default: 7)")
    options = parser.parse_args()

    times: dict[bool, list[float]] = {True: [], False: []}
    first_requests: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        start_once(True, workdir)  # warm the file system cache; not counted
        for run in range(options.runs):
            for enabled in (run % 2 == 0, run % 2 != 0):  # alternate which goes first
                startup, first = start_once(enabled, workdir)
                times[enabled].append(startup)
                if first is not None:
                    first_requests.append(first)
                print(
                    f"  run {run + 1}: {'enabled ' if enabled else 'disabled'} {startup * 1000:7.0f} ms",
                    flush=True,
                )

    in_process = statistics.median(in_process_cost() for _ in range(options.runs))
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print()
    print(f"jupyter server start-up until /api/status answers, median of {options.runs} runs:")
    print(f"  {'extension disabled':<22}{off * 1000:8.0f} ms")
    print(f"  {'extension enabled':<22}{on * 1000:8.0f} ms")
    print(f"  {'added':<22}{(on - off) * 1000:+8.0f} ms")
    print(
        f"  {'first /bridge/ request':<22}{statistics.median(first_requests) * 1000:8.0f} ms (builds the routes)"
    )
    print(f"  {'import + create':<22}{in_process * 1000:8.1f} ms (the extension alone, in one process)")


if __name__ == "__main__":
    main()
