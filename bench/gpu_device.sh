#!/usr/bin/env bash
# Run bench/gpu.py on a CUDA machine whose python3 has torch but not easel's server packages:
# installs the wheels bench/gpu_wheels.sh put in .whl/ into /tmp/site, puts src/ on the path
# and runs the benchmark. Reports go to $OUT (default bench/): gpu.md, gpu.json, gpu.log.
#
#     bash bench/gpu_device.sh [gpu.py options, e.g. --archs sd15 --batches 1,8]
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench}
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
# Fail in seconds, not after the models are built, when a package is missing.
python3 -c 'import diffusers, fastapi, uvicorn, alembic, pydantic_settings, easel.api.app' || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 bench/gpu.py --output "$OUT/gpu.md" --json "$OUT/gpu.json" "$@" 2>&1 | tee "$OUT/gpu.log"
