#!/usr/bin/env bash
# Installs everything the tests need (Python packages, Debian chromium for the browser tests) and runs them.
set -uo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q -r requirements-dev.txt || { echo "pip install failed" >&2; exit 1; }
if ! command -v chromium >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
      || echo "note: chromium could not be installed; browser tests will skip with that reason" >&2
  else
    echo "note: chromium is missing and apt-get is not usable here; browser tests will skip" >&2
  fi
fi
python3 -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
