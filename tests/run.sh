#!/usr/bin/env bash
# Install everything the tests need on a fresh machine, then run them.
# Usage: bash tests/run.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    # Browser tests drive Debian's Chromium (Playwright never downloads a browser here).
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null
    fi
fi

python -m pip install -q -e ".[test]"
python -m ruff check .
python -m pytest "$@"
