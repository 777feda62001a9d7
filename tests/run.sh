#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run them.
# Usage: bash tests/run.sh [pytest arguments]
# It installs Debian packages with apt-get and configurable-http-proxy with npm -g
# (through sudo unless run as root), and jupyter_bridge[test] with the `python` on
# PATH (use a virtual environment to keep it apart). tests/test_packaging.py builds
# and installs the release artifacts (a few minutes): leave it out with -m "not packaging".
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests drive: Chromium for the browser tests (Playwright never
# downloads a browser here), nginx and Apache for tests/test_nginx.py and test_apache.py.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -x /usr/sbin/apache2 ] || missing+=(apache2-bin)  # the server and its modules, no service
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    # The tests run their own nginx on loopback ports: keep the package from starting
    # a system-wide one on port 80 (policy-rc.d is Debian's switch for that).
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
        $sudo chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    if [ -n "$made_policy" ]; then
        $sudo rm -f /usr/sbin/policy-rc.d
    fi
fi

# JupyterHub's proxy, for tests/test_hub.py (an npm package; jupyterhub itself is in the test extra).
if ! command -v configurable-http-proxy >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then npm install -g --silent configurable-http-proxy; else sudo npm install -g --silent configurable-http-proxy; fi
fi

python -m pip install -q -e ".[test]"
python -m ruff check .
# Two workers, a test module each at a time (servers and browsers are shared per
# module): about 40 % less wall time on two cores. `-n 0` runs in one process.
python -m pytest -n 2 --dist loadfile "$@"
