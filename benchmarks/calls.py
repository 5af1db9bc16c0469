"""Python function calls per training step, counted with ``sys.setprofile``: deterministic, the same on any
machine, so it can compare versions of glassgrad where timings on a busy machine cannot.

    python benchmarks/calls.py
    python benchmarks/calls.py --time                     # + interleaved ratios (see below)
    python benchmarks/calls.py --time mlp_784_128_10_relu_b32 --rounds 3000

Steps: the 64-30-10 sigmoid network with softmax cross-entropy at batch 10 and SGD — eager
(``zero_grad``, forward, ``backward``, ``step``), compiled forward + backward with the optimizer outside,
and (when this glassgrad has it) the compiled whole step ``gg.compile(..., optimizer=opt)`` — and the eager
200-gate chain on 16 floats with x, a and b needing gradients, per gate. It runs on older versions of
glassgrad too (the whole step is left out where ``gg.compile`` takes no optimizer).

``--time`` adds ratios to the plain NumPy step for NumPy tuned and glassgrad compiled, interleaved one
step at a time (each round runs one step of each, in rotating order; the garbage collector off while
timing), reported at low percentiles of the per-step times: the steps that ran while the machine's other
work left this one alone. On a shared, busy machine these ratios hold where block medians do not; they
are still no substitute for ``run.py`` on a quiet machine, whose numbers the docs quote.
"""
from __future__ import annotations

import argparse
import gc
import inspect
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # glassgrad from this checkout

import glassgrad as gg  # noqa: E402
from glassgrad import optim  # noqa: E402
from glassgrad.nn import functional as F  # noqa: E402


def count(step) -> tuple[int, int]:
    """(Python calls, profiler-visible C calls) in one call of ``step``, after three warm-up calls.

    C calls are builtins and methods the profiler reports (``ndarray.sum``, ``ufunc.reduce``, ``np.empty``
    ...); calls of ufuncs themselves (``np.add(a, b)``, ``a + b``, ``a @ b``) are not reported, so this is
    a floor on NumPy calls, not their number.
    """
    for _ in range(3):
        step()
    calls = [0, 0]

    def profile(frame, event, arg):
        if event == "call":
            calls[0] += 1
        elif event == "c_call":
            calls[1] += 1

    sys.setprofile(profile)
    try:
        step()
    finally:
        sys.setprofile(None)
    return calls[0], calls[1] - 1


def interleaved_ratios(name: str, rounds: int, percentiles=(5, 10, 25)) -> list[str]:
    """Ratios of NumPy tuned and glassgrad compiled to plain NumPy at low percentiles of per-step times, one
    step of each implementation per round (one thread)."""
    import workloads
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    w = workloads.BY_NAME[name]
    impls = [i for i in ("numpy", "numpy tuned", "glassgrad compiled") if i in w.impls]
    steps = {i: w.build(i).step for i in impls}
    for step in steps.values():
        for _ in range(5):
            step()
    times: dict[str, list[float]] = {i: [] for i in impls}
    clock = time.perf_counter
    gc.disable()
    try:
        for r in range(rounds):
            for i in impls[r % len(impls):] + impls[:r % len(impls)]:
                step = steps[i]
                t = clock()
                step()
                times[i].append(clock() - t)
    finally:
        gc.enable()
    lines = []
    for q in percentiles:
        base = float(np.percentile(times["numpy"], q))
        lines.append(f"  {name} p{q}: " + "  ".join(f"{i} {np.percentile(times[i], q) / base:.3f}" for i in impls[1:])
                     + f"  (numpy {base * 1e6:.1f} µs)")
    return lines


TIMED = ["mlp_64_30_10_sigmoid_b10", "mlp_784_128_10_relu_b1", "mlp_784_128_10_relu_b32", "mlp_784_128_10_relu_b256",
         "gate_chain_200", "micrograd_hinge"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--time", nargs="*", metavar="WORKLOAD", default=None,
                    help="also time these workloads interleaved (default with no names: the MLPs, chain, hinge)")
    ap.add_argument("--rounds", type=int, default=1000, help="rounds of --time (default: %(default)s)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))     # workloads, for --time
    if args.time is not None:
        import workloads

        unknown = [n for n in args.time if n not in workloads.BY_NAME]
        if unknown:
            ap.error(f"unknown workload(s) {unknown}; known: {', '.join(workloads.BY_NAME)}")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 64)).astype(np.float32), rng.integers(0, 10, 10)

    def params():
        r = np.random.default_rng(1)
        return [gg.tensor(0.1 * r.standard_normal(s).astype(np.float32), requires_grad=True)
                for s in ((30, 64), (30,), (10, 30), (10,))]

    def model(ps, x):
        return F.linear(F.linear(x, ps[0], ps[1]).sigmoid(), ps[2], ps[3])

    ps = params()
    opt = optim.SGD(ps, lr=0.1)
    xt, yt = gg.tensor(x), gg.tensor(y)

    def eager():
        opt.zero_grad()
        F.cross_entropy(model(ps, xt), yt).backward()
        opt.step()

    ps2 = params()
    opt2 = optim.SGD(ps2, lr=0.1)
    forward_backward = gg.compile(lambda x, y: F.cross_entropy(model(ps2, x), y))

    def compiled():
        opt2.zero_grad()
        forward_backward(x, y)
        opt2.step()

    rows = [("eager step", count(eager)), ("compiled forward + backward, optimizer outside", count(compiled))]
    if "optimizer" in inspect.signature(gg.compile).parameters:
        ps3 = params()
        whole = gg.compile(lambda x, y: F.cross_entropy(model(ps3, x), y), optimizer=optim.SGD(ps3, lr=0.1))
        rows.append(("compiled whole step", count(lambda: whole(x, y))))

    chain_inputs = [gg.tensor(rng.standard_normal(16).astype(np.float32), requires_grad=True) for _ in range(3)]

    def chain():
        for t in chain_inputs:
            t.grad = None
        t, a, b = chain_inputs
        for i in range(200):
            op = i % 6
            t = (t * a if op in (0, 3) else t + b if op == 1 else t.tanh() if op == 2 else t.exp() if op == 4
                 else t.sigmoid())
        t.sum().backward()

    python, c = count(chain)
    print("64-30-10 sigmoid, softmax CE, batch 10, SGD: Python calls / profiler-visible C calls per step")
    for name, (python_calls, c_calls) in rows:
        print(f"  {name:48s} {python_calls:5d} / {c_calls}")
    print(f"eager 200-gate chain, per gate: {python / 200:.1f} Python calls / {c / 200:.1f} C calls")
    if args.time is not None:
        print(f"interleaved, one step at a time, {args.rounds} rounds: ratio to plain NumPy at low percentiles")
        for name in args.time or TIMED:
            print("\n".join(interleaved_ratios(name, args.rounds)), flush=True)


if __name__ == "__main__":
    main()
