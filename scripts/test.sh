#!/usr/bin/env bash
# Installs everything the tests need (Python packages, Debian chromium and Fashion-MNIST) and runs them.
# It uses the Python of the environment it is started in: an active venv ($VIRTUAL_ENV), else the first
# python3 on PATH, or $PYTHON if set, so that the packages are installed where the tests then run.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then
  py="$PYTHON"
elif [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  py="$VIRTUAL_ENV/bin/python"
else
  py="$(command -v python3 || command -v python)" || { echo "error: no python3 on PATH" >&2; exit 1; }
fi
echo "Python: $("$py" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
# The checkout itself too, editable (pyproject.toml): ganmodels and ui import from anywhere, the ganstudio-* commands exist.
"$py" -m pip install -q -r requirements-dev.txt -e . || { echo "pip install failed" >&2; exit 1; }
# Debian packages: chromium for the browser tests, Fashion-MNIST for the shipped models' checks (tests skip without them).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -d /usr/share/datasets/fashion-mnist ] || missing+=(dataset-fashion-mnist)
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
      || echo "note: could not install ${missing[*]}; the tests that need them will skip with that reason" >&2
  else
    echo "note: ${missing[*]} missing and apt-get is not usable here; the tests that need them will skip" >&2
  fi
fi
"$py" -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$status"
