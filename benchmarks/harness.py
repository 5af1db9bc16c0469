"""Timing machinery shared by the benchmark scripts.

Everything runs in one process.  Implementations of the same workload are timed
round-robin: every repeat times one block of calls of each implementation, in an
order rotated from repeat to repeat, so that drift (thermal, frequency, noisy
neighbours) hits all of them alike.  A block lasts about ``seconds``; its
per-call time is the block time divided by the number of calls in it.  Each block also records the
process's CPU time (all its threads) over the block's wall time: about 1.0 for a library that computes on one
thread, above 1 for one that spreads its work over more cores, below 1 when it waits (for the CPU, on a busy
machine).
"""
from __future__ import annotations

import gc
import os
import platform
import resource
import statistics
import time
import tracemalloc
from dataclasses import dataclass
from typing import Callable

import numpy as np


@dataclass
class Stats:
    """Per-call times (seconds) of one implementation, one value per repeat, and for each repeat the
    process's CPU time over wall time."""

    times: list[float]
    calls_per_repeat: int
    cpu_per_wall: list[float]

    @property
    def cpu_ratio(self) -> float:
        """Median over repeats of process CPU time / wall time: how many cores the implementation kept busy."""
        return statistics.median(self.cpu_per_wall)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def min(self) -> float:
        return min(self.times)

    @property
    def max(self) -> float:
        return max(self.times)


def _calls_for(fn: Callable[[], object], seconds: float) -> int:
    """Warm ``fn`` up and return how many calls take about ``seconds``."""
    target = min(0.1, seconds / 2)
    n = 1
    for _ in range(2):  # the first pass warms up (lazy imports, allocator, BLAS threads)
        while True:
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            elapsed = time.perf_counter() - t0
            if elapsed >= target:
                break
            n *= 2
        n = max(1, round(n * target / elapsed))
    return max(1, round(n * seconds / target))


def _block(fn: Callable[[], object], n: int, sync: Callable[[], object] | None) -> Callable[[], None]:
    """``n`` calls of ``fn``, then ``sync()`` (for a library that dispatches asynchronously)."""
    def run():
        for _ in range(n):
            fn()
        if sync is not None:
            sync()
    return run


def run_interleaved(fns: dict[str, Callable[[], object]], repeats: int = 5,
                    seconds: float = 1.0, syncs: dict[str, Callable[[], object]] | None = None) -> dict[str, Stats]:
    """Time each callable in ``fns`` for ``repeats`` blocks of ~``seconds``, round-robin. ``syncs[name]``,
    when given, is called at the end of each block of that implementation, inside the timing."""
    names = list(fns)
    syncs = syncs or {}
    calls = {name: _calls_for(_block(fns[name], 1, syncs.get(name)), seconds) for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            block, n = _block(fns[name], calls[name], syncs.get(name)), calls[name]
            gc.collect()
            c0, t0 = time.process_time(), time.perf_counter()
            block()
            wall, cpu_time = time.perf_counter() - t0, time.process_time() - c0
            times[name].append(wall / n)
            cpu[name].append(cpu_time / wall)
    return {name: Stats(times[name], calls[name], cpu[name]) for name in names}


def time_processes(commands: dict[str, list[str]], runs: int, env: dict[str, str] | None = None,
                   cwd: str | None = None) -> dict[str, list[float]]:
    """Wall time of each command as a fresh process, ``runs`` times, round-robin in an order rotated from
    round to round (as ``run_interleaved``): {name: [seconds per run]}, the i-th entries from the same round.
    A command that fails raises ``subprocess.CalledProcessError`` with its stderr."""
    import subprocess

    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(runs):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            t0 = time.perf_counter()
            subprocess.run(commands[name], env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
            times[name].append(time.perf_counter() - t0)
    return times


def peak_memory(fn: Callable[[], object]) -> int:
    """Peak bytes allocated above the starting level during one call of ``fn``.

    Uses tracemalloc, which sees Python objects and NumPy array buffers (NumPy
    reports its allocations to it) but not memory allocated by PyTorch.
    """
    fn()  # warm-up outside the trace
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - base


def gemm_gflops(n: int = 1024, repeats: int = 5, seconds: float = 0.5) -> tuple[float, float]:
    """Best float32 GEMM rate of NumPy's BLAS on an n x n x n product (fastest repeat), in GFLOP/s, and the
    median process CPU time / wall time while it ran (the number of cores BLAS kept busy)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    stats = run_interleaved({"gemm": lambda: a @ b}, repeats, seconds)["gemm"]
    return 2 * n**3 / stats.min / 1e9, stats.cpu_ratio


class CpuContention:
    """How much CPU other processes took while this one ran (Linux; from /proc/stat).

    On a shared 2-core machine another process's work slows every measurement,
    so each report says how busy the machine was besides the benchmark itself.
    """

    def __init__(self):
        self.start = self._sample()

    @staticmethod
    def _sample():
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
        # this process and its finished children (the processes whose import time run.py measures)
        own = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        return time.perf_counter(), ticks, sum(r.ru_utime + r.ru_stime for r in own)

    def others(self) -> tuple[float, float]:
        """(fraction of all CPUs used by other processes, fraction stolen by the hypervisor) so far; this process's
        own children (waited for) are not others."""
        (w0, t0, o0), (w1, t1, o1) = self.start, self._sample()
        user, nice, system, idle, iowait, irq, softirq, steal = (b - a for a, b in zip(t0, t1))
        hz, capacity = os.sysconf("SC_CLK_TCK"), (w1 - w0) * (os.cpu_count() or 1)
        busy = (user + nice + system + irq + softirq) / hz
        return max(0.0, busy - (o1 - o0)) / capacity, steal / hz / capacity

    def summary(self) -> str:
        try:
            others, steal = self.others()
        except (OSError, ValueError):
            return "CPU use by other processes: unknown"
        text = f"other processes used {100 * others:.0f}% of the CPUs (steal {100 * steal:.0f}%)"
        if others > 0.1:
            text += " — **the machine was busy; these times are inflated and noisy**"
        return text


# ---------------------------------------------------------------------------
# Machine description

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _blas_info() -> str:
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        text = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older NumPy: no mode="dicts"
        text = "unknown"
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        text += "; runtime: " + ", ".join(
            f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
            f"{p.get('num_threads')} thread{'s' * (p.get('num_threads') != 1)})" for p in pools)
    except ImportError:
        pass
    return text


def machine_info(torch_module=None, others: dict | None = None) -> dict[str, str]:
    """What the numbers were measured on, as label -> text; ``others`` maps a label to another optional
    library's module (or None when it is not installed), whose version is listed."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} logical, {usable} usable by this process",
        "Python": platform.python_version(),
        "NumPy": np.__version__,
        "NumPy BLAS": _blas_info(),
    }
    if torch_module is not None:
        info["PyTorch"] = torch_module.__version__
        info["torch.get_num_threads()"] = str(torch_module.get_num_threads())
    else:
        info["PyTorch"] = "not installed"
    for label, module in (others or {}).items():
        info[label] = _version(module) if module is not None else "not installed"
    return info


def _version(module) -> str:
    try:
        from importlib.metadata import version

        return getattr(module, "__version__", None) or version(module.__name__)
    except Exception:  # no metadata (a source checkout on sys.path)
        return "installed"


# ---------------------------------------------------------------------------
# Formatting

def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table; the first column is left-aligned, the rest right-aligned."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]

    def line(cells):
        return "| " + " | ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    sep = "|" + "|".join(
        ":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":"
        for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])
