# Sourced by run.sh and test.sh: make sure uv is installed, then install the locked environment.
# Python 3.12 comes from pyenv (.python-version); uv must never download its own.
export UV_PYTHON_DOWNLOADS=never
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# `command -v` is not enough: a pyenv shim for uv exists when any Python version has it.
if ! uv --version >/dev/null 2>&1; then
    echo "==> uv is missing: installing it with pip"
    # A system Python marked "externally managed" (PEP 668) refuses --user installs without the flag.
    python3 -m pip install --user uv || python3 -m pip install --user --break-system-packages uv
    export PATH="$HOME/.local/bin:$PATH"
    hash -r
fi

echo "==> uv sync --frozen"
uv sync --frozen
