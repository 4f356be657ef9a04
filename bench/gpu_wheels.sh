#!/usr/bin/env bash
# Download, into .whl/ at the repository root, the wheels bench/gpu_device.sh installs on a
# CUDA machine that has torch, transformers, accelerate, safetensors, numpy, pillow and httpx
# but not easel's server packages (Python 3.12, x86-64 Linux). Versions are the ones in this
# checkout's virtualenv, so the GPU machine runs what the tests ran here.
#
#     bash bench/gpu_wheels.sh [PYTHON]     # PYTHON: the virtualenv's python (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-.venv/bin/python}
PACKAGES=(
    diffusers importlib_metadata lazy-importer
    fastapi starlette opentelemetry-api annotated-doc uvicorn httptools python-multipart
    swagger-ui-bundle-v2 sqlalchemy alembic mako
    pydantic pydantic_core pydantic-settings python-dotenv annotated-types typing-inspection
    typing_extensions
)
mkdir -p .whl
exclude="$(git rev-parse --git-common-dir)/info/exclude"  # .whl/ stays out of commits
grep -qx '/.whl/' "$exclude" 2>/dev/null || echo '/.whl/' >>"$exclude"
for name in "${PACKAGES[@]}"; do
    version=$("$PYTHON" -m pip show "$name" 2>/dev/null | awk '/^Version:/ {print $2}')
    if [ -z "$version" ]; then
        echo "not installed here: $name (install the server and inference extras first)" >&2
        exit 1
    fi
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux1_x86_64 -d .whl "$name==$version"
done
du -sh .whl
