"""Shared setup for the core test suite: a reproducible hypothesis profile and grad-mode hygiene."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO_ROOT))

import devices  # noqa: E402  the CPU-side stand-in for CuPy, and the device parameters

import glassgrad as gg  # noqa: E402

# Small and derandomized: the same examples on every run and on CI, and the whole core suite stays fast.
# Individual tests lower or raise max_examples with their own @settings.
settings.register_profile(
    "glassgrad",
    max_examples=20,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile("glassgrad")


CORE_MODULES = {"test_tensor", "test_gates", "test_torch_parity", "test_engine", "test_functional",
                "test_gradcheck"}


@pytest.fixture(autouse=True)
def _grad_mode_restored(request):
    """A test that leaves grad mode switched off would silently break every later test: restore it after
    every test, and fail a core test that leaked it."""
    gg.set_grad_enabled(True)
    yield
    leaked = not gg.is_grad_enabled()
    gg.set_grad_enabled(True)
    if request.module.__name__.rpartition(".")[2] in CORE_MODULES:
        assert not leaked, "the test left grad mode disabled"


@pytest.fixture(params=devices.DEVICE_PARAMS)
def device(request):
    """A device name for a test to put its tensors on: "cpu"; "cuda" served by the CPU-side stand-in
    (tests/devices.py says what that proves and what it cannot); "cuda" on a real GPU, skipped without one.
    The stand-in is registered for the test's duration only."""
    name = request.param
    with devices.on(name):
        yield "cpu" if name == "cpu" else "cuda"
