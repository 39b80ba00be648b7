#!/usr/bin/env bash
# Rebuild the live canvas component (ui/live_canvas/frontend/dist, committed) from its source and lock file.
# Needs Node 20+ and npm; the app itself never runs npm, it serves the committed dist/.
set -euo pipefail
cd "$(dirname "$0")/../ui/live_canvas/frontend"
npm ci
npm run build
