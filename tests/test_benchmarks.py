"""benchmarks/run.py's honesty checks: the thread limit (and its verification by CPU time over wall time) and
the import-time measurement. Structure only: nothing here asserts a speed."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def run():
    """benchmarks/run.py as a module (it puts benchmarks/ on sys.path for its harness)."""
    spec = importlib.util.spec_from_file_location("benchmarks_run", BENCHMARKS / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cpu_per_wall_is_measured_per_block(run):
    """A block that sleeps keeps no core busy: its CPU time over wall time is near 0, one value per repeat."""
    stats = run.harness.run_interleaved({"sleep": lambda: time.sleep(0.01)}, repeats=2, seconds=0.05)["sleep"]
    assert len(stats.cpu_per_wall) == len(stats.times) == 2
    assert 0 <= stats.cpu_ratio < 0.5


def test_an_implementation_above_the_thread_limit_is_named_in_a_warning(run):
    measured = {"numpy": 1.0, "jax jit": 1.97, "torch": 1.08}
    assert run.overthreaded(measured, 1) == {"jax jit": 1.97}
    assert run.overthreaded(measured, 2) == {}           # two threads allowed: 1.97 is within them
    assert run.overthreaded(measured, 0) == {}           # the libraries' defaults: nothing to verify
    warning = run.thread_warning({"jax jit": 1.97}, 1)
    assert "WARNING" in warning and "jax jit 1.97" in warning and "1 thread" in warning


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity call on this OS")
@pytest.mark.skipif(importlib.util.find_spec("threadpoolctl") is None, reason="threadpoolctl not installed")
def test_one_thread_sets_nproc_for_xla_and_pins_every_thread_to_one_cpu():
    """In a fresh process (the limit is process-wide): NPROC and XLA_FLAGS are set for JAX, and every thread
    the process has, BLAS's pool included, may run on one CPU only, as may the threads it makes later."""
    code = (
        "import os, sys, threading\n"
        f"sys.path.insert(0, {str(BENCHMARKS)!r})\n"
        "import run\n"
        "how = run.limit_threads(1)\n"
        "seen = []\n"
        "t = threading.Thread(target=lambda: seen.append(len(os.sched_getaffinity(0)))); t.start(); t.join()\n"
        "tasks = os.listdir('/proc/self/task')\n"
        "print(os.environ['NPROC'], 'intra_op_parallelism_threads=1' in os.environ['XLA_FLAGS'],\n"
        "      sorted({len(os.sched_getaffinity(int(tid))) for tid in tasks}), seen, 'pinned to CPU' in how)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["1", "True", "[1]", "[1]", "True"]


def test_time_processes_runs_each_command_round_robin_and_reports_a_failing_one(run):
    ok = [sys.executable, "-c", "pass"]
    times = run.harness.time_processes({"a": ok, "b": ok}, runs=2)
    assert list(times) == ["a", "b"] and all(len(t) == 2 and min(t) > 0 for t in times.values())
    with pytest.raises(subprocess.CalledProcessError):
        run.harness.time_processes({"bad": [sys.executable, "-c", "raise SystemExit(3)"]}, runs=1)


def test_import_cost_tables_numpy_and_glassgrad_cached_and_from_source(run):
    """Both tables name each process and glassgrad's difference above NumPy; the bytecode caches the
    measurement writes are temporary (nothing appears in the checkout)."""
    before = sorted((ROOT / "glassgrad").rglob("*.pyc"))
    text = run.import_cost(1, modules=("numpy", "glassgrad"))
    assert sorted((ROOT / "glassgrad").rglob("*.pyc")) == before
    assert text.startswith("## Import time")
    cached, source = text.split("Every module's bytecode cached:")[1].split("Glassgrad compiled from source")
    for table in (cached, source):
        rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.startswith("| ")}
        assert {"python (start-up only)", "import numpy", "import glassgrad"} <= set(rows)
        assert " s (" in rows["import glassgrad"].split("|")[4]      # the difference above NumPy, with its range
        assert rows["import numpy"].split("|")[4].strip() == "—"
