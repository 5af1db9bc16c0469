"""Python function calls per training step, counted with ``sys.setprofile``: deterministic, the same on any
machine, so it can compare versions of glassgrad where timings on a busy machine cannot.

    python benchmarks/calls.py

Steps: the 64-30-10 sigmoid network with softmax cross-entropy at batch 10 and SGD — eager
(``zero_grad``, forward, ``backward``, ``step``), compiled forward + backward with the optimizer outside,
and (when this glassgrad has it) the compiled whole step ``gg.compile(..., optimizer=opt)`` — and the eager
200-gate chain on 16 floats with x, a and b needing gradients, per gate. It runs on older versions of
glassgrad too (the whole step is left out where ``gg.compile`` takes no optimizer).
"""
from __future__ import annotations

import inspect
import sys
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


def main() -> None:
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


if __name__ == "__main__":
    main()
