"""The notes' MNIST experiments (Nielsen, "Neural Networks and Deep Learning", chapters 1 and 3).

    python examples/mnist_nielsen.py                 # [784, 30, 10] sigmoid, quadratic cost, SGD: about 95%
    python examples/mnist_nielsen.py --cross-entropy # the same with cross-entropy, L2 λ = 5.0, η = 0.5: higher
    python examples/mnist_nielsen.py --epochs 1      # a quick look

Data: ../shared/data/mnist.npz (Nielsen's 50,000 / 10,000 / 10,000 split), inputs p/256 as in the book.
Measured results are in docs/results.md.
"""
from __future__ import annotations

import argparse
import time

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import load_mnist
from glassgrad.nn import functional as F
from glassgrad.train import evaluate, fit


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cross-entropy", action="store_true", help="cross-entropy cost with L2 (λ = 5.0, η = 0.5)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hidden", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-path", default=None)
    args = p.parse_args(argv)

    gg.manual_seed(args.seed)
    data = load_mnist(args.data_path, scale="nielsen")
    n = len(data.train[0])
    if args.cross_entropy:
        # network2.py: weights N(0, 1/n_in), biases N(0, 1); softmax-free sigmoid output with the
        # cross-entropy of each output unit, as in the book's CrossEntropyCost.
        model = nn.Sequential(nn.Linear(784, args.hidden, weight_init="inv_sqrt_fan_in"), nn.Sigmoid(),
                              nn.Linear(args.hidden, 10, weight_init="inv_sqrt_fan_in"), nn.Sigmoid())
        lr, penalty = 0.5, (lambda m: F.l2_penalty(m.parameters(), 5.0, n))

        def cost(a, y):   # Σ over outputs, mean over the batch: C = −(1/n) Σ_x Σ_j [y ln a + (1−y) ln(1−a)]
            return F.binary_cross_entropy(a, gg.one_hot(y, 10), reduction="sum") * (1 / len(a))
    else:
        model = nn.Sequential(nn.Linear(784, args.hidden, weight_init="normal"), nn.Sigmoid(),
                              nn.Linear(args.hidden, 10, weight_init="normal"), nn.Sigmoid())
        lr, penalty = 3.0, None

        def cost(a, y):
            return F.quadratic_cost(a, gg.one_hot(y, 10))

    opt = optim.SGD(model.parameters(), lr=lr)
    started = time.perf_counter()
    history = fit(model, cost, opt, data.train, args.epochs, validation=data.val, batch_size=10,
                  seed=args.seed, penalty=penalty, progress=False, compile=True)
    seconds = time.perf_counter() - started
    test = evaluate(model, data.test, cost)
    name = "cross-entropy + L2" if args.cross_entropy else "quadratic"
    print(f"\n[784, {args.hidden}, 10] sigmoid, {name}, SGD batch 10, η = {lr}, {args.epochs} epochs: "
          f"test accuracy {test['accuracy']:.4f}, best validation accuracy {max(history['val_accuracy']):.4f}, "
          f"{seconds:.0f} s ({seconds / max(len(history), 1):.1f} s per epoch)")
    return {"test_accuracy": test["accuracy"], "seconds": seconds, "history": history}


if __name__ == "__main__":
    main()
