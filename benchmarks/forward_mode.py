"""What forward mode costs: JVP as the VJP of a VJP (glassgrad's choice) against JVP rules, on the notes'
784-128-10 sigmoid network with a softmax cross-entropy loss, batch 64, float32.

    PYTHONPATH=. python benchmarks/forward_mode.py [--repeats 7] [--seconds 0.5] [--threads 1] [--no-pin]

One thread each and the process pinned to one CPU by default, as in ``benchmarks/run.py``.

Rows, timed round-robin (benchmarks/harness.py) and reported as ratios to one gradient (forward + backward):

* ``glassgrad grad``: ``gg.grad`` of the loss with respect to all four parameters;
* ``glassgrad jvp (VJP of VJP)``: ``gg.jvp`` of the loss in a random direction of all four parameters;
* ``glassgrad hvp``: ``gg.hvp``, the Hessian times that direction (jvp of grad);
* ``NumPy tangent pass``: the forward pass with the tangent carried along, written by hand: the cost that
  per-gate JVP rules could reach at best in glassgrad;
* ``torch jvp (JVP rules)``: ``torch.func.jvp``, PyTorch's forward mode with a rule per operation;
* ``torch jvp (VJP of VJP)``: ``torch.autograd.functional.jvp``, which uses the same construction as
  glassgrad; ``torch grad`` is the reference for both torch rows.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import run_interleaved  # noqa: E402
from run import limit_threads  # noqa: E402

import glassgrad as gg  # noqa: E402
import glassgrad.nn.functional as F  # noqa: E402

SIZES = (784, 128, 10)
BATCH = 64


def problem(seed: int = 0):
    rng = np.random.default_rng(seed)
    f32 = np.float32
    params = [rng.standard_normal((SIZES[1], SIZES[0])).astype(f32) * f32(0.05), np.zeros(SIZES[1], f32),
              rng.standard_normal((SIZES[2], SIZES[1])).astype(f32) * f32(0.1), np.zeros(SIZES[2], f32)]
    tangents = [rng.standard_normal(p.shape).astype(f32) for p in params]
    x = rng.random((BATCH, SIZES[0]), dtype=f32)
    y = rng.integers(0, SIZES[2], BATCH)
    return params, tangents, x, y


def gg_loss(x, y):
    def loss(w1, b1, w2, b2):
        return F.cross_entropy(F.linear(F.sigmoid(F.linear(x, w1, b1)), w2, b2), y)
    return loss


def numpy_tangent_pass(params, tangents, x, y):
    """Loss and its directional derivative in one forward sweep (dual numbers by hand)."""
    (w1, b1, w2, b2), (dw1, db1, dw2, db2) = params, tangents
    z1 = x @ w1.T + b1
    dz1 = x @ dw1.T + db1
    h = 0.5 + 0.5 * np.tanh(0.5 * z1)
    dh = h * (1 - h) * dz1
    z2 = h @ w2.T + b2
    dz2 = dh @ w2.T + h @ dw2.T + db2
    z2 = z2 - z2.max(axis=1, keepdims=True)
    logp = z2 - np.log(np.exp(z2).sum(axis=1, keepdims=True))
    p = np.exp(logp)
    rows = np.arange(len(y))
    loss = -logp[rows, y].mean()
    p[rows, y] -= 1
    return loss, (p * dz2).sum() / len(y)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seconds", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=1, help="threads per library (0: their defaults)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to --threads CPUs")
    args = ap.parse_args(argv)
    print(f"Timed with {limit_threads(args.threads, pin=not args.no_pin)}.")
    params, tangents, x, y = problem()
    loss = gg_loss(x, y)
    _, ours = gg.jvp(loss, params, tangents)
    _, by_hand = numpy_tangent_pass(params, tangents, x, y)
    assert np.isclose(ours, by_hand, rtol=1e-4), (ours, by_hand)
    fns = {
        "glassgrad grad": lambda: gg.grad(loss, argnums=(0, 1, 2, 3))(*params),
        "glassgrad jvp (VJP of VJP)": lambda: gg.jvp(loss, params, tangents),
        "glassgrad hvp": lambda: gg.hvp(loss, params, tangents),
        "NumPy tangent pass": lambda: numpy_tangent_pass(params, tangents, x, y),
    }
    try:
        import torch
        import torch.nn.functional as TF

        if args.threads:
            torch.set_num_threads(args.threads)
        tp, tt = [torch.tensor(p) for p in params], [torch.tensor(t) for t in tangents]
        tx, ty = torch.tensor(x), torch.tensor(y)

        def tloss(w1, b1, w2, b2):
            return TF.cross_entropy(TF.linear(torch.sigmoid(TF.linear(tx, w1, b1)), w2, b2), ty)

        fns["torch grad"] = lambda: torch.func.grad(tloss, argnums=(0, 1, 2, 3))(*tp)
        fns["torch jvp (JVP rules)"] = lambda: torch.func.jvp(tloss, tuple(tp), tuple(tt))
        fns["torch jvp (VJP of VJP)"] = lambda: torch.autograd.functional.jvp(tloss, tuple(tp), tuple(tt))
    except ImportError:
        pass
    stats = run_interleaved(fns, repeats=args.repeats, seconds=args.seconds)
    print(f"{'row':30s} {'median ms':>10s} {'× its grad':>11s}")
    for name, s in stats.items():
        base = stats["torch grad" if name.startswith("torch") else "glassgrad grad"].median
        print(f"{name:30s} {s.median * 1e3:10.3f} {s.median / base:11.2f}")


if __name__ == "__main__":
    main()
