#!/usr/bin/env bash
# What a new user's machine does, in miniature: a fresh clone of the committed tree, a throwaway venv built from
# the pins (pip reuses its local cache, so this is mostly a copy), the app imported, then the README's test
# command on a quick subset. Run it after changing a pin and before release-like changes; it caught a pytest
# release that broke three tests on fresh machines while older installs still passed.
#   bash scripts/fresh_install_check.sh             # quick subset
#   bash scripts/fresh_install_check.sh --full      # the whole suite in the fresh venv
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
base="$(command -v python3.11 || command -v python3)"
work="$(mktemp -d "${TMPDIR:-/tmp}/ganstudio-fresh.XXXXXX")"
trap 'rm -rf "$work"' EXIT
start=$SECONDS
git clone --quiet "$repo" "$work/clone"
# The tests look for the shared data beside the clone, as CI lays it out; link it when the source has it.
[ -d "$repo/../shared" ] && ln -s "$repo/../shared" "$work/shared"
"$base" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install -q --disable-pip-version-check -r "$work/clone/requirements-dev.txt" -e "$work/clone"
echo "installed in $((SECONDS - start)) s:"
"$work/venv/bin/python" -m pip freeze --disable-pip-version-check \
  | grep -iE '^(torch|torchvision|streamlit|numpy|pillow|plotly|safetensors|tqdm|scipy|pytest|pytest-timeout|playwright)=='
# The installed package imports from outside the checkout, and its console scripts run.
(cd "$work" && "$work/venv/bin/python" -c "import ganmodels.train, ganmodels.evaluate, ganmodels.publish, ui.common; print('imports ok')")
for cmd in ganstudio-train ganstudio-evaluate ganstudio-publish; do
  "$work/venv/bin/$cmd" --help >/dev/null || { echo "error: $cmd --help failed" >&2; exit 1; }
done
echo "console scripts ok"
cd "$work/clone"
if [ "${1:-}" = "--full" ]; then
  PATH="$work/venv/bin:$PATH" bash scripts/test.sh -q
else
  PATH="$work/venv/bin:$PATH" bash scripts/test.sh -q -p no:cacheprovider \
    tests/test_models.py tests/test_checkpoints.py tests/test_gallery.py \
    "tests/test_training.py::test_learning_rates_and_instance_noise_decay_linearly_to_zero_from_their_starts" \
    "tests/test_pages_explore.py::test_home_shows_friendly_metrics_and_generated_grid"
fi
echo "fresh install check passed in $((SECONDS - start)) s"
