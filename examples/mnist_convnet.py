"""A small ConvNet on MNIST: convolutional networks train by the same backpropagation (docs/backprop.md#training).

    python examples/mnist_convnet.py              # 6 epochs, Adam: at least 98% test accuracy
    python examples/mnist_convnet.py --epochs 1

conv 5×5 (1→16) → ReLU → max-pool 2 → conv 5×5 (16→32) → ReLU → max-pool 2 → linear 512→64 → ReLU → linear 64→10,
softmax cross-entropy, Adam (η = 1e-3), batch 64. Measured results are in docs/results.md.
"""
from __future__ import annotations

import argparse
import time

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.data import load_mnist
from glassgrad.nn import functional as F
from glassgrad.train import evaluate, fit


def convnet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 5), nn.ReLU(), nn.MaxPool2d(2),        # 28 → 24 → 12
        nn.Conv2d(16, 32, 5), nn.ReLU(), nn.MaxPool2d(2),       # 12 → 8 → 4
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-size", type=int, default=None, help="use only the first N training images")
    p.add_argument("--data-path", default=None)
    args = p.parse_args(argv)

    gg.manual_seed(args.seed)
    data = load_mnist(args.data_path, flatten=False)
    (x, y), n = data.train, args.train_size
    x = x.reshape(len(x), 1, 28, 28)
    train = (x[:n], y[:n]) if n else (x, y)
    val = (data.val[0].reshape(-1, 1, 28, 28), data.val[1])
    test = (data.test[0].reshape(-1, 1, 28, 28), data.test[1])
    model = convnet()
    print(model)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    started = time.perf_counter()
    history = fit(model, F.cross_entropy, opt, train, args.epochs, validation=val, batch_size=64, seed=args.seed,
                  progress=False, compile=True)
    seconds = time.perf_counter() - started
    result = evaluate(model, test, F.cross_entropy, batch_size=500)
    print(f"\nConvNet, {args.epochs} epochs on {len(train[0])} images: test accuracy {result['accuracy']:.4f}, "
          f"{seconds:.0f} s ({seconds / max(len(history), 1):.0f} s per epoch)")
    return {"test_accuracy": result["accuracy"], "seconds": seconds, "history": history}


if __name__ == "__main__":
    main()
