#!/usr/bin/env bash
# The GPU check of issue 15, for a fresh NVIDIA GPU machine that has only Python 3 and pip.
#
#   bash benchmarks/gpu_check.sh                 # the real check (needs a GPU and a reachable package registry)
#   bash benchmarks/gpu_check.sh --dry-run       # on any CPU machine: the same Python part on the CPU stand-in
#
# What it does (designed to finish in under 8 minutes):
#   1. makes a virtual environment (.venv-gpu-check, reused when it exists) and runs
#      pip install -e ".[test,cuda]"  (cupy-cuda12x and the test tools); stops with a clear message if pip
#      cannot reach a package registry;
#   2. prints nvidia-smi, then hands over to benchmarks/gpu_check.py with the time that is left, which
#      prints CuPy's device information, runs the CUDA-parametrised tests, compares every gate's value and
#      gradients on the GPU with the CPU (float64 and float32), times one training step of 784-128-10 at
#      batch 256 and 784-1024-1024-10 at batch 1024 (glassgrad eager and compiled, against PyTorch CUDA when
#      torch with CUDA is installed), and writes the results file (default gpu_check_results.json).
# --dry-run skips steps 1-2 (no venv, no pip, no network) and runs the Python part with the current
# interpreter on the CPU stand-in of the "cuda" device: every code path runs, no GPU number is produced.
# Exit status: 0 all checks passed, 1 a check failed, 2 the machine could not be set up.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-480}          # seconds for the whole script: 8 minutes
STARTED=$(date +%s)

for arg in "$@"; do
    if [[ "$arg" == "--dry-run" ]]; then
        exec "$PY" benchmarks/gpu_check.py "$@"
    fi
done

echo "== gpu_check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), $("$PY" --version 2>&1)"
VENV=${GPU_CHECK_VENV:-.venv-gpu-check}
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PY" -m venv "$VENV" || { echo "gpu_check: could not make a virtual environment with '$PY -m venv' (on" \
        "Debian/Ubuntu: apt install python3-venv); stopping, nothing was measured" >&2; exit 2; }
fi
LOG=$(mktemp)
echo "== pip install -e \".[test,cuda]\" (cupy-cuda12x, pytest, hypothesis, torch, ...)"
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e ".[test,cuda]" 2>&1 | tee "$LOG"; then
    if grep -qiE "connection|network is unreachable|name resolution|timed out|max retries|proxyerror|sslerror" "$LOG"; then
        echo "gpu_check: pip could not reach a package registry (see above), so cupy-cuda12x cannot be installed;" \
             "connect this machine to PyPI (or set PIP_INDEX_URL to a mirror) and run again. Stopping: nothing was" \
             "measured." >&2
    elif grep -qiE "no matching distribution found for" "$LOG"; then
        echo "gpu_check: the package index pip uses has no $(grep -oiE 'no matching distribution found for [^ ;]+' "$LOG" \
             | head -1 | awk '{print $NF}') for this Python and platform (see above): an offline mirror, or no" \
             "registry reachable? Point PIP_INDEX_URL at PyPI or a full mirror and run again. Stopping: nothing was" \
             "measured." >&2
    else
        echo "gpu_check: pip install -e \".[test,cuda]\" failed (see above); stopping: nothing was measured." >&2
    fi
    rm -f "$LOG"
    exit 2
fi
rm -f "$LOG"

echo "== nvidia-smi"
if command -v nvidia-smi > /dev/null; then
    nvidia-smi || echo "nvidia-smi failed (is the NVIDIA driver loaded?)"
else
    echo "nvidia-smi: not found (no NVIDIA driver on this machine?)"
fi

LEFT=$(( BUDGET - ($(date +%s) - STARTED) ))
exec "$VENV/bin/python" benchmarks/gpu_check.py --budget "$LEFT" "$@"
