"""Run the glassgrad benchmarks: glassgrad vs hand-written NumPy vs PyTorch eager (and JAX jit and HIPS
autograd when they are installed; they are optional and not among glassgrad's dependencies).

    python benchmarks/run.py                 # 5 repeats of ~1 s per implementation
    python benchmarks/run.py --quick         # 3 repeats of ~0.2 s
    python benchmarks/run.py --only gate_chain_200 mlp_784_128_10_relu_b32
    python benchmarks/run.py --check         # one step of each from identical weights; assert agreement

Writes a markdown report (default benchmarks/RESULTS.md) and prints it.
"""
from __future__ import annotations

import argparse
import datetime
import sys
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # harness/workloads, and glassgrad from the checkout

import harness  # noqa: E402
from workloads import BY_NAME, WORKLOADS, as_numpy  # noqa: E402

IMPLS = ("numpy", "torch", "glassgrad", "glassgrad compiled", "jax jit", "autograd")
TRACEABLE = ("numpy", "glassgrad", "glassgrad compiled", "autograd")  # tracemalloc sees neither torch's
#                                                                      nor XLA's allocator
OPTIONAL = {"torch": "torch", "jax jit": "jax", "autograd": "autograd"}   # implementation -> module it needs
FLUSHES_SUBNORMALS = ("jax jit",)   # XLA on CPU computes with subnormal floats flushed to zero (FTZ/DAZ)
# Below this, a float32 result may come from intermediates in the subnormal range (< tiny), which such an
# implementation flushed to zero: compared with this absolute tolerance (the gate chain's gradients are ~1e-38).
FLUSH_FLOOR = float(np.finfo(np.float32).tiny / np.finfo(np.float32).eps)


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
    try:
        import glassgrad as gg
        if not hasattr(gg, "tensor"):
            raise ImportError("glassgrad has no `tensor` yet")
    except ImportError as e:
        missing["glassgrad"] = missing["glassgrad compiled"] = f"does not import ({e})"
    return [i for i in IMPLS if i not in missing], missing, modules


def build(workload, impls, notes, steps=1):
    """Build each implementation and run ``steps`` steps: {impl: (Impl, loss of the last step)}.

    Implementations that fail are left out, with a note saying why.
    """
    built = {}
    for impl in [i for i in impls if i in workload.impls]:
        try:
            obj = workload.build(impl)
            for _ in range(steps):
                loss = obj.step()
            built[impl] = (obj, as_numpy(loss))
        except Exception as e:
            notes.append(f"{impl} failed: {type(e).__name__}: {e}")
            traceback.print_exc()
    return built


# ---------------------------------------------------------------------------
# --check

def check(workloads, impls, rtol=1e-4, steps=3):
    """Three steps of each implementation from identical weights, compared with NumPy's (three, so that a
    compiled step is past its two recording calls and replaying).

    Compares the loss, the gradients and the parameters after the step, with
    ``rtol`` and an absolute tolerance of rtol/10 times the largest magnitude of
    the NumPy array (gradient entries near zero carry only float32 rounding noise); for implementations
    that flush subnormal floats to zero (JAX), at least ``FLUSH_FLOOR``, and the report says how many
    entries were lost that way. Also requires everything to stay float32.  Returns the number of failures.
    """
    failures = 0
    for w in workloads:
        notes = []
        built = build(w, impls, notes, steps)
        for note in notes:
            print(f"FAIL {w.name}: {note}")
        failures += len(notes)
        if "numpy" not in built:
            continue
        impl_obj, loss = built.pop("numpy")
        ref = dict(impl_obj.state(), loss=[loss])
        for impl, (impl_obj, loss) in built.items():
            floor, flushed = FLUSH_FLOOR if impl in FLUSHES_SUBNORMALS else 0.0, 0
            try:
                got = dict(impl_obj.state(), loss=[loss])
                for key in ("loss", "grads", "params"):
                    assert len(got[key]) == len(ref[key]), f"{key}: {len(got[key])} arrays, numpy has {len(ref[key])}"
                    for i, (g, r) in enumerate(zip(got[key], ref[key])):
                        g = np.asarray(g)
                        assert g.dtype == r.dtype == np.float32, f"{key}[{i}]: dtype {g.dtype}, numpy {r.dtype}"
                        np.testing.assert_allclose(g, r, rtol=rtol, atol=max(rtol / 10 * np.abs(r).max(), floor),
                                                   err_msg=f"{key}[{i}]")
                        flushed += int(np.count_nonzero((g == 0) & (r != 0))) if floor else 0
                print(f"ok   {w.name}: {impl} agrees with numpy (loss {float(loss):.6g})"
                      + (f"; {flushed} entries below {floor:.2g} are 0, flushed through the subnormal range"
                         if flushed else ""))
            except AssertionError as e:
                print(f"FAIL {w.name}: {impl}: " + "\n".join(str(e).strip().splitlines()[:8]))
                failures += 1
    return failures


# ---------------------------------------------------------------------------
# timing

def bench(w, impls, repeats, seconds, gemm):
    """Time one workload; return its markdown section."""
    notes, cpu = [], harness.CpuContention()
    built = build(w, impls, notes)
    stats = harness.run_interleaved({i: obj.step for i, (obj, _) in built.items()}, repeats, seconds)
    peak = {i: harness.peak_memory(obj.step) for i, (obj, _) in built.items() if i in TRACEABLE}

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
                     ratio(i, "numpy"), ratio(i, "torch"), rate,
                     harness.fmt_bytes(peak.get(i)), str(s.calls_per_repeat)])
    headers = ["implementation", f"median / {w.unit}", "min – max", "vs numpy", "vs torch",
               "GFLOP/s (% GEMM)", "peak memory", "calls / repeat"]
    if "torch" not in stats:  # no torch column without torch
        for cells in (headers, *rows):
            del cells[4]
    flops = f" Matmul work: {w.flops / 1e6:.3g} MFLOP per {w.unit}." if w.flops else ""
    text = [f"## {w.name}", "", w.description + "." + flops, "", harness.markdown_table(headers, rows)]
    text += ["", f"While timing: {cpu.summary()}."] + [f"- {n}" for n in notes]
    return "\n".join(text) + "\n"


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
    return (f"## memory over {steps:,} steps\n\n{w.description}: memory still allocated (tracemalloc, after "
            f"garbage collection) after 1,000 steps, then {steps // 2:,} and {steps:,} steps later.\n\n{table}\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats of ~0.2 s (default: 5 of ~1 s)")
    ap.add_argument("--repeats", type=int, help="repeats per implementation (overrides the mode)")
    ap.add_argument("--seconds", type=float, help="seconds per repeat (overrides the mode)")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(BY_NAME), help="workloads to run")
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md", help="markdown report (default: %(default)s)")
    ap.add_argument("--threads", type=int, help="limit BLAS/OpenMP/torch threads to N (default: leave "
                    "the libraries' defaults); 1 keeps a busy shared machine from stalling threaded code")
    ap.add_argument("--check", action="store_true", help="check the implementations agree, then exit")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    seconds = args.seconds or (0.2 if args.quick else 1.0)
    workloads = [BY_NAME[n] for n in args.only] if args.only else WORKLOADS

    impls, missing, modules = available_impls()
    torch = modules["torch"]
    for impl, why in missing.items():
        print(f"note: {impl} {why}; skipping it")
    if args.check:
        failures = check(workloads, impls)
        print(f"check: {failures} failure(s)")
        return 1 if failures else 0

    threads = "default thread settings"
    if args.threads:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(args.threads)  # noqa: F841 (kept for the whole run)
        if torch is not None:
            torch.set_num_threads(args.threads)
        threads = f"threads limited to {args.threads} (--threads)"
        if modules["jax"] is not None:   # XLA sizes its thread pool from the CPU affinity; no switch limits it
            threads += " except JAX's"
    cpu = harness.CpuContention()
    info = harness.machine_info(torch, {"JAX": modules["jax"], "HIPS autograd": modules["autograd"]})
    gemm = harness.gemm_gflops(1024, repeats, min(seconds, 0.5))
    head = [
        "# glassgrad benchmarks", "",
        f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by "
        f"`python benchmarks/run.py {' '.join(sys.argv[1:] if argv is None else argv)}`.", "",
        f"{repeats} repeats of ~{seconds:g} s per implementation, round-robin across implementations; "
        "times are per call (per gate for the gate chain), median and min – max over repeats. "
        "Ratios are median time over the reference's median time (lower is faster). "
        "GFLOP/s counts only the necessary matmul work. Peak memory: tracemalloc during one call, above "
        "the level before it (n/a for torch and JAX, whose allocators tracemalloc cannot see). "
        + ("JAX: one jit-compiled function per step (loss, gradients and update), compiled during the warm-up "
           "and not timed; each call waits for its result. " if "jax jit" in impls else "")
        + f"All float32, {threads}, garbage collector on.", "",
        harness.markdown_table(["", ""], [[k, v] for k, v in info.items()]
                               + [["float32 GEMM 1024³ (NumPy, fastest repeat)", f"{gemm:.1f} GFLOP/s"]]),
    ]
    if missing:
        head += [""] + [f"- **{impl} {why}: not benchmarked.**" for impl, why in missing.items()]
    print("\n".join(head) + "\n", flush=True)
    sections = []
    for w in workloads:
        sections.append(bench(w, impls, repeats, seconds, gemm))
        print(sections[-1], flush=True)
    if not args.only:
        sections.append(memory_growth(impls, 2_000 if args.quick else 10_000))
        print(sections[-1], flush=True)
    tail = f"Whole run: {cpu.summary()}.\n"
    print(tail)
    args.out.write_text("\n".join(head) + "\n\n" + "\n".join(sections) + "\n" + tail)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
