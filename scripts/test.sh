#!/usr/bin/env bash
# `make test`: every check CI runs. Each step runs even when an earlier one failed, so one
# run shows every problem; the exit status is non-zero if any step failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"

echo "==> uv sync --frozen --group dev"
uv sync --frozen --group dev

if [ ! -x /usr/bin/chromium ]; then
    echo "==> installing Debian's chromium for the browser tests"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

failed=()
step() {
    local name=$1
    shift
    echo
    echo "==> ${name}"
    if ! "$@"; then
        failed+=("${name}")
    fi
}

deploy_check() {
    # Production settings with a throwaway secret: the check must pass with no warnings.
    local var_dir
    var_dir=$(mktemp -d)
    DJANGO_SETTINGS_MODULE=rapport.settings_production \
        SECRET_KEY="$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" \
        ALLOWED_HOSTS=rapport.example.com \
        RAPPORT_VAR_DIR="${var_dir}" \
        uv run --frozen rapport check --deploy --fail-level WARNING
    local rc=$?
    rm -rf "${var_dir}"
    return "${rc}"
}

browser_tests() {
    local rc=0
    uv run --frozen pytest -m browser || rc=$?
    if [ "${rc}" -eq 5 ] && ! grep -rqs "mark.browser" tests; then
        echo "(no browser tests yet)"
        return 0
    fi
    return "${rc}"
}

step "ruff check" uv run --frozen ruff check .
step "ruff format --check" uv run --frozen ruff format --check .
step "mypy" uv run --frozen mypy
step "lint-imports" uv run --frozen lint-imports
step "rapport check --deploy" deploy_check
step "pytest (SQLite)" uv run --frozen pytest -m "not browser"
step "pytest (PostgreSQL)" env DATABASE_URL=postgres://postgres@127.0.0.1:5432/rapport_ci \
    uv run --frozen pytest -m "not browser"
step "pytest (browser)" browser_tests

echo
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[@]}"
    exit 1
fi
echo "All checks passed."
