"""Run the glassgrad benchmarks: each training step of issue 12's table (and a small ConvNet) in plain
NumPy, hand-tuned NumPy, PyTorch eager, JAX jit (when installed; optional, not a glassgrad dependency),
glassgrad eager and glassgrad compiled, interleaved in one process.

    python benchmarks/run.py                 # the headline run: one thread each, ~5-7 minutes
    python benchmarks/run.py --quick         # 3 repeats of ~0.2 s (a smoke test, ~2 minutes)
    python benchmarks/run.py --only gate_chain_200 micrograd_hinge
    python benchmarks/run.py --only imports  # only the import times
    python benchmarks/run.py --check         # only check that all implementations agree

Every run first checks that the implementations agree (loss, gradients and parameters after three steps
from identical weights), then times them round-robin and writes a Markdown report (default
benchmarks/RESULTS.md, also printed): the headline table of ratios to the plain NumPy step, Python calls
per step (deterministic: the same on any machine), the import time of numpy, glassgrad, torch and jax as
fresh processes, then each workload's times, CPU/wall and peak memory, and the memory held over 10,000 steps.

One thread each by default: BLAS through threadpoolctl, torch.set_num_threads, XLA_FLAGS and NPROC for JAX
(set before JAX is imported), and the process pinned to one CPU (--no-pin leaves it free). CPU/wall, the
process CPU time over wall time of each implementation's timed blocks, verifies the limit: about 1.00 for
one busy core; the report warns where an implementation kept more cores busy than --threads. The report
states how busy the machine was while it ran.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # harness/workloads, and glassgrad from the checkout

import harness  # noqa: E402
from calls import count as python_calls  # noqa: E402  (Python / profiler-visible C calls in one step)
from workloads import BY_NAME, WORKLOADS, as_numpy  # noqa: E402

IMPLS = ("numpy", "numpy tuned", "torch", "jax jit", "glassgrad", "glassgrad compiled")
COLUMNS = {"numpy tuned": "NumPy tuned", "torch": "PyTorch eager", "jax jit": "JAX jit",
           "glassgrad": "glassgrad eager", "glassgrad compiled": "glassgrad compiled"}
TRACEABLE = ("numpy", "numpy tuned", "glassgrad", "glassgrad compiled")  # tracemalloc sees neither torch's
#                                                                        nor XLA's allocator
OPTIONAL = {"torch": "torch", "jax jit": "jax"}   # implementation -> module it needs
FLUSHES_SUBNORMALS = ("jax jit",)   # XLA on CPU computes with subnormal floats flushed to zero (FTZ/DAZ)
# Below this, a float32 result may come from intermediates in the subnormal range (< tiny), which such an
# implementation flushed to zero: compared with this absolute tolerance.
FLUSH_FLOOR = float(np.finfo(np.float32).tiny / np.finfo(np.float32).eps)


def limit_threads(n: int | None, pin: bool = True) -> str:
    """Limit every library to ``n`` threads (None or 0: leave their defaults) and, with ``pin``, the whole
    process to ``n`` CPUs; say how. Call before importing JAX: XLA reads its flags and ``NPROC`` once.

    The thread settings are what each library offers; pinning is the belt that holds even where one of them
    is ignored. Every timed block also measures process CPU time over wall time (``CPU/wall`` in the report),
    which shows whether the limit held."""
    if not n:
        return "the libraries' default thread settings"
    # XLA's CPU client sizes its thread pools from NPROC when set (else from the cores it sees); the flags
    # alone still let a jitted matmul use two cores.
    os.environ["NPROC"] = str(n)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false "
                               f"intra_op_parallelism_threads={n}").strip()
    from threadpoolctl import threadpool_limits

    limit_threads.keep = threadpool_limits(n)    # held for the whole run
    how = f"{n} thread{'s' * (n != 1)} each (BLAS via threadpoolctl, torch.set_num_threads, XLA_FLAGS and NPROC)"
    cpus = pin_to_cpus(n) if pin else None
    if cpus is not None:
        how += f", the process pinned to CPU{'s' * (len(cpus) != 1)} {', '.join(map(str, cpus))}"
    return how


def pin_to_cpus(n: int) -> list[int] | None:
    """Restrict this process, every thread it has (BLAS made its pool at import) and every thread it will
    make, to the first ``n`` CPUs it may use; the CPUs, or None where the OS has no affinity call (not Linux)."""
    try:
        cpus = sorted(os.sched_getaffinity(0))[:n]
        try:
            threads = [int(t) for t in os.listdir("/proc/self/task")]
        except OSError:
            threads = [0]
        for tid in threads:
            os.sched_setaffinity(tid, cpus)
    except (AttributeError, OSError):
        return None
    return cpus


def overthreaded(cpu_per_wall: dict[str, float], threads: int | None, slack: float = 1.1) -> dict[str, float]:
    """Those of ``cpu_per_wall`` ({implementation: process CPU time / wall time}) above ``threads`` × ``slack``:
    in a run limited to n threads, the libraries that kept more than n cores busy. Nothing with no limit."""
    return {i: r for i, r in cpu_per_wall.items() if threads and r > threads * slack}


def available_impls():
    """(names of usable implementations, {name: why not} for the others, {module name: module or None})."""
    import importlib

    missing, modules = {}, {}
    for impl, name in OPTIONAL.items():
        try:
            modules[name] = importlib.import_module(name)
        except ImportError as e:
            modules[name] = None
            missing[impl] = f"not installed ({e})"
    return [i for i in IMPLS if i not in missing], missing, modules


def build(workload, impls, notes, steps=1, checking=False):
    """Build each implementation and run ``steps`` steps (``check_step`` ones when ``checking``):
    {impl: (Impl, loss of the last step)}.

    Implementations that fail are left out, with a note saying why.
    """
    built = {}
    for impl in [i for i in impls if i in workload.impls]:
        try:
            obj = workload.build(impl)
            step = obj.check_step if checking and obj.check_step is not None else obj.step
            for _ in range(steps):
                loss = step()
            built[impl] = (obj, as_numpy(loss))
        except Exception as e:
            notes.append(f"{impl} failed: {type(e).__name__}: {e}")
            traceback.print_exc()
    return built


# ---------------------------------------------------------------------------
# agreement

def check(workloads, impls, rtol=1e-4, steps=3) -> tuple[int, list[str]]:
    """Three steps of each implementation from identical weights, compared with plain NumPy's (three, so
    that a compiled step is past its two recording calls and replaying).

    Compares the loss, the gradients and the parameters after the step, with ``rtol`` and an absolute
    tolerance of rtol/10 times the largest magnitude of the NumPy array (gradient entries near zero carry
    only float32 rounding noise; gradients recovered from the update of a step that folds the learning rate
    in get the rounding bound their state reports on top); for implementations that flush subnormal floats
    to zero (JAX), at least ``FLUSH_FLOOR``. Also requires everything to stay float32. Returns (failures, report lines).
    """
    failures, lines = 0, []
    for w in workloads:
        notes = []
        built = build(w, impls, notes, steps, checking=True)
        lines += [f"FAIL {w.name}: {note}" for note in notes]
        failures += len(notes)
        if "numpy" not in built:
            continue
        impl_obj, loss = built.pop("numpy")
        ref = dict(impl_obj.state(), loss=[loss])
        agree = []
        for impl, (impl_obj, loss) in built.items():
            floor = FLUSH_FLOOR if impl in FLUSHES_SUBNORMALS else 0.0
            try:
                got = dict(impl_obj.state(), loss=[loss])
                for key in ("loss", "grads", "params"):
                    assert len(got[key]) == len(ref[key]), f"{key}: {len(got[key])} arrays, numpy has {len(ref[key])}"
                    for i, (g, r) in enumerate(zip(got[key], ref[key])):
                        g = np.asarray(g)
                        assert g.dtype == r.dtype == np.float32, f"{key}[{i}]: dtype {g.dtype}, numpy {r.dtype}"
                        if key == "grads" and "grads_rounding" in got:   # only what exceeds the rounding
                            g = r + np.sign(g - r) * np.maximum(np.abs(g - r) - got["grads_rounding"][i], 0)
                        np.testing.assert_allclose(g, r, rtol=rtol, atol=max(rtol / 10 * np.abs(r).max(), floor),
                                                   err_msg=f"{key}[{i}]")
                agree.append(impl)
            except AssertionError as e:
                lines.append(f"FAIL {w.name}: {impl}: " + " ".join(str(e).strip().splitlines()[:6]))
                failures += 1
        lines.append(f"ok   {w.name}: {', '.join(agree)} agree with numpy (loss {float(ref['loss'][0]):.6g})")
    return failures, lines


# ---------------------------------------------------------------------------
# timing

def bench(w, impls, repeats, seconds, gemm, threads):
    """Time one workload: (its markdown section, {impl: median seconds per step}, {impl: calls},
    {impl: CPU/wall} for the implementations that used more cores than ``threads``)."""
    notes, cpu = [], harness.CpuContention()
    built = build(w, impls, notes)
    calls = {i: python_calls(obj.step) for i, (obj, _) in built.items()}
    stats = harness.run_interleaved({i: obj.step for i, (obj, _) in built.items()}, repeats, seconds,
                                    {i: obj.sync for i, (obj, _) in built.items() if obj.sync is not None})
    peak = {i: harness.peak_memory(obj.step) for i, (obj, _) in built.items() if i in TRACEABLE}
    over = overthreaded({i: s.cpu_ratio for i, s in stats.items()}, threads)

    def ratio(impl, ref):
        return f"{stats[impl].median / stats[ref].median:.2f}×" if ref in stats else "n/a"

    rows = []
    for i, s in stats.items():
        rate = "—"
        if w.flops:
            gflops = w.flops / s.median / 1e9
            rate = f"{gflops:.1f} ({100 * gflops / gemm:.0f}%)"
        rows.append([i, harness.fmt_time(s.median / w.per),
                     f"{harness.fmt_time(s.min / w.per)} – {harness.fmt_time(s.max / w.per)}",
                     ratio(i, "numpy"), ratio(i, "torch"), f"{s.cpu_ratio:.2f}" + (" ⚠" if i in over else ""),
                     rate, harness.fmt_bytes(peak.get(i)), f"{calls[i][0]:,} / {calls[i][1]:,}",
                     str(s.calls_per_repeat)])
    headers = ["implementation", f"median / {w.unit}", "min – max", "vs numpy", "vs torch", "CPU/wall",
               "GFLOP/s (% GEMM)", "peak memory", "Python / C calls per step", "steps / repeat"]
    flops = f" Matmul work: {w.flops / 1e6:.3g} MFLOP per step." if w.flops else ""
    text = [f"### {w.name}", "", w.description + "." + flops, "", harness.markdown_table(headers, rows)]
    if over:
        text += ["", f"**{thread_warning(over, threads)}**"]
    text += ["", f"While timing: {cpu.summary()}."] + [f"- {n}" for n in notes]
    return "\n".join(text) + "\n", {i: s.median for i, s in stats.items()}, calls, over


def thread_warning(over: dict[str, float], threads: int) -> str:
    """The warning for implementations that kept more cores busy than the run's thread limit."""
    which = ", ".join(f"{i} {r:.2f}" for i, r in over.items())
    return (f"WARNING: limited to {threads} thread{'s' * (threads != 1)}, yet process CPU time / wall time was "
            f"{which}: these implementations used more than {threads} core{'s' * (threads != 1)}, and their "
            "times are not comparable with the others'")


def headline(medians: dict[str, dict[str, float]], impls) -> str:
    """Issue 12's table: each implementation's median step time over plain NumPy's, per workload."""
    cols = [i for i in COLUMNS if i in impls]
    rows = []
    for name, m in medians.items():
        ref = m.get("numpy")
        rows.append([name] + [f"{m[i] / ref:.2f}" if ref and i in m else "—" for i in cols])
    return harness.markdown_table(["workload"] + [COLUMNS[i] for i in cols], rows)


def call_table(calls: dict[str, dict[str, tuple[int, int]]], impls) -> str:
    cols = [i for i in ("numpy", "numpy tuned", "torch", "glassgrad", "glassgrad compiled") if i in impls]
    rows = [[name] + [f"{c[i][0]:,} / {c[i][1]:,}" if i in c else "—" for i in cols] for name, c in calls.items()]
    return harness.markdown_table(["workload"] + cols, rows)


IMPORTED = ("numpy", "glassgrad", "torch", "jax")   # modules whose import is timed (torch and jax when installed)


def import_cost(runs: int, modules: tuple[str, ...] = IMPORTED) -> str:
    """Markdown section: the wall time of ``python -c "import M"`` as a fresh process for each of ``modules``
    that is installed (NumPy, glassgrad from this checkout, PyTorch and JAX), and of Python's start-up alone,
    round-robin, and each one's time above NumPy's (the median over rounds of the
    difference within a round, so that drift cancels).

    Twice: with every module's bytecode cached (written by one untimed import of each first, as an installed
    package has it), and with glassgrad's own modules compiled from source on every import while everything
    else keeps its bytecode (a source checkout run with PYTHONDONTWRITEBYTECODE=1). The cache is a temporary
    directory (``PYTHONPYCACHEPREFIX``): nothing is written into the checkout or site-packages."""
    import importlib.util
    import shutil
    import statistics
    import subprocess
    import tempfile

    present = [m for m in modules if importlib.util.find_spec(m) is not None]
    commands = {"python (start-up only)": [sys.executable, "-c", "pass"]}
    commands.update({m: [sys.executable, "-c", f"import {m}"] for m in present})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parent)] + [x for x in [env.get("PYTHONPATH")] if x])
    package = HERE.parent / "glassgrad"
    sections, cpu = [], harness.CpuContention()
    with tempfile.TemporaryDirectory() as cache:
        env["PYTHONPYCACHEPREFIX"] = cache
        modes = [("every module's bytecode cached", commands),
                 ("glassgrad compiled from source on every import (the other modules' bytecode cached)",
                  {k: v for k, v in commands.items() if k not in ("torch", "jax")})]
        for mode, cmds in modes:
            try:
                if mode == modes[0][0]:
                    harness.time_processes(cmds, 1, env, cwd=cache)     # writes the cache; not timed
                else:   # glassgrad's bytecode out of the cache, and no more written
                    shutil.rmtree(Path(cache, package.relative_to(package.anchor)), ignore_errors=True)
                    env["PYTHONDONTWRITEBYTECODE"] = "1"
                times = harness.time_processes(cmds, runs, env, cwd=cache)
            except subprocess.CalledProcessError as e:
                error = (e.stderr or b"").decode(errors="replace").strip().splitlines()[-1:]
                sections.append(f"{mode}: failed: `{' '.join(e.cmd)}`: {' '.join(error)}")
                continue
            ref = times.get("numpy")
            rows = []
            for name, t in times.items():
                above = "—"
                if ref is not None and name not in ("numpy", "python (start-up only)"):
                    d = [a - b for a, b in zip(t, ref)]
                    above = f"{statistics.median(d):+.3f} s ({min(d):+.3f} – {max(d):+.3f})"
                rows.append([name if name.startswith("python") else f"import {name}",
                             f"{statistics.median(t):.3f} s", f"{min(t):.3f} – {max(t):.3f} s", above])
            sections.append(f"{mode[0].upper()}{mode[1:]}:\n\n" + harness.markdown_table(
                ["process", "median", "min – max", "above NumPy (median of the runs' differences, range)"], rows))
    return (f"## Import time\n\nWall time of a fresh `python -c \"import M\"` process (glassgrad from this "
            f"checkout), {runs} runs of each, round-robin; \"above NumPy\" is the median over runs of the "
            "difference to `import numpy` in the same round. First with every module's bytecode cached (as for "
            "an installed package), then with glassgrad's own modules compiled from source on every import (a "
            "source checkout run with PYTHONDONTWRITEBYTECODE=1). The processes inherit this run's environment "
            "and CPU affinity (the thread limits, the pinning).\n\n" + "\n\n".join(sections)
            + f"\n\nWhile measuring: {cpu.summary()}.\n")


def memory_growth(impls, steps: int = 10_000) -> str:
    """Memory held (tracemalloc, after gc) after 1,000 steps and after ``steps`` / 2 and ``steps`` more:
    a leak grows with the steps; live gradients and caches do not."""
    import gc
    import tracemalloc

    w = BY_NAME["mlp_64_30_10_sigmoid_b10"]
    rows = []
    for impl in [i for i in impls if i in TRACEABLE]:
        obj = w.build(impl)
        tracemalloc.start()
        held = []
        for n in (1000, steps // 2, steps // 2):
            for _ in range(n):
                obj.step()
            gc.collect()
            held.append(tracemalloc.get_traced_memory()[0])
        tracemalloc.stop()
        rows.append([impl, *(harness.fmt_bytes(h) for h in held), f"{held[-1] - held[0]:+,d} B"])
    table = harness.markdown_table(["implementation", "held after 1,000 steps", f"after {1000 + steps // 2:,}",
                                    f"after {1000 + steps:,}", "change"], rows)
    return (f"## Memory over {steps:,} steps\n\n{w.description}: memory still allocated (tracemalloc, after "
            f"garbage collection) after 1,000 steps, then {steps // 2:,} and {steps:,} steps later.\n\n{table}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats of ~0.2 s (default: 5 of ~0.8 s)")
    ap.add_argument("--repeats", type=int, help="repeats per implementation (overrides the mode)")
    ap.add_argument("--seconds", type=float, help="seconds per repeat (overrides the mode)")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=[*BY_NAME, "imports"],
                    help="workloads to run; 'imports' for the import-time measurement (default: all of them)")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="markdown report (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="threads for every library (default: %(default)s, "
                    "the headline setting; 0 leaves the libraries' defaults)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to --threads CPUs (the thread "
                    "settings alone then limit the libraries; the CPU/wall column shows whether they held)")
    ap.add_argument("--import-runs", type=int, help="fresh processes per module in the import-time measurement "
                    "(default: 15, 5 with --quick; 0 skips it)")
    ap.add_argument("--check", action="store_true", help="only check that the implementations agree, then exit")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    seconds = args.seconds or (0.2 if args.quick else 0.8)
    workloads = [BY_NAME[n] for n in args.only if n != "imports"] if args.only else WORKLOADS
    import_runs = 0 if args.only and "imports" not in args.only else args.import_runs
    import_runs = (5 if args.quick else 15) if import_runs is None else import_runs

    threads = limit_threads(args.threads, pin=not args.no_pin)
    impls, missing, modules = available_impls()
    torch = modules["torch"]
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    for impl, why in missing.items():
        print(f"note: {impl} {why}; skipping it")
    failures, agreement = check(workloads, impls)
    print("\n".join(agreement) + f"\ncheck: {failures} failure(s)", flush=True)
    if args.check:
        return 1 if failures else 0

    cpu = harness.CpuContention()
    info = harness.machine_info(torch, {"JAX": modules["jax"]})
    gemm, gemm_cpu = harness.gemm_gflops(1024, repeats, min(seconds, 0.5))
    command = f"python benchmarks/run.py {' '.join(sys.argv[1:] if argv is None else argv)}".strip()
    head = [
        "# glassgrad benchmarks", "",
        f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by `{command}`.", "",
        f"{repeats} repeats of ~{seconds:g} s per implementation, round-robin across implementations; "
        "times are per step (per gate for the gate chain), median and min – max over repeats. "
        "Ratios are median time over the plain NumPy step's median (lower is faster). "
        "Every step is a training step — forward, backward, SGD update — except the gate chain (forward and "
        "backward). glassgrad compiled: `gg.compile(loss, optimizer=opt)`, the whole step in one generated "
        "function. JAX: one jit-compiled function per step with the parameters donated, dispatched "
        "asynchronously; each timed block ends by waiting for its last step; compilation is not timed. "
        f"All float32, {threads}, garbage collector on. CPU/wall: the process's CPU time (all its threads) "
        "over the wall time of the timed blocks, median over repeats — about 1.00 for one busy core, more when "
        "a library computes on more cores, less when the process waited for a CPU.", "",
        harness.markdown_table(["", ""], [[k, v] for k, v in info.items()]
                               + [["float32 GEMM 1024³ (NumPy, fastest repeat)",
                                   f"{gemm:.1f} GFLOP/s (CPU/wall {gemm_cpu:.2f})"]]),
    ]
    if missing:
        head += [""] + [f"- **{impl} {why}: not benchmarked.**" for impl, why in missing.items()]
    head += ["", "## Agreement", "", f"Checked before timing ({failures} failure(s)):", "", "```text",
             *agreement, "```"]
    print("\n".join(head) + "\n", flush=True)
    sections, medians, calls, over = [], {}, {}, {}
    for w in workloads:
        section, medians[w.name], calls[w.name], over[w.name] = bench(w, impls, repeats, seconds, gemm,
                                                                      args.threads)
        sections.append(section)
        print(section, flush=True)
    warnings = [f"**{w}: {thread_warning(o, args.threads)}.**" for w, o in over.items() if o]
    gemm_over = overthreaded({"numpy": gemm_cpu}, args.threads)
    if gemm_over:
        warnings.append(f"**GEMM: {thread_warning(gemm_over, args.threads)}.**")
    summary = []
    if workloads:
        summary += ["## Time per step, relative to plain NumPy", "", *(f"{w}\n" for w in warnings),
                    "Median time per step over the plain NumPy step's median in the same run (lower is faster).",
                    "", headline(medians, impls), "", "## Python calls per step", "",
                    "Deterministic: Python function calls / profiler-visible C calls in one step (after warm-up). "
                    "The C column counts builtins and methods (`ndarray.sum`, `ufunc.reduce`, `np.empty` ...), "
                    "not direct ufunc calls (`np.add(a, b)`, `a @ b`), so it is a floor on NumPy calls.", "",
                    call_table(calls, impls), "", f"While timing: {cpu.summary()}.", ""]
    if import_runs:
        summary.append(import_cost(import_runs))
    tail = []
    if not args.only:
        tail.append(memory_growth(impls, 2_000 if args.quick else 10_000))
        print(tail[-1], flush=True)
    tail.append(f"Whole run: {cpu.summary()}.\n")
    report = "\n".join(head) + "\n\n" + "\n".join(summary) + "\n"
    if sections:
        report += "## Each workload\n\n" + "\n".join(sections) + "\n"
    report += "\n".join(tail)
    print("\n".join(summary))
    args.out.write_text(report)
    print(f"wrote {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
