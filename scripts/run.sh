#!/usr/bin/env bash
# `make run`: set up, then start Rapport with demo data (web server and worker) on
# http://127.0.0.1:8000/. Extra arguments go to `rapport serve` (e.g. --port 9000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec uv run --frozen rapport serve --demo "$@"
