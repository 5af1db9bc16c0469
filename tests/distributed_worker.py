"""Runs under ``mpirun`` for tests/test_distributed.py (and in-process, as a world of one, for the reference
runs): small trainings whose results each rank writes to ``<out>/<scenario>-rank<r>.npz``."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import glassgrad as gg
from glassgrad import distributed as dist
from glassgrad.data import DataLoader, TensorDataset

N_EXAMPLES, GLOBAL_BATCH, EPOCHS = 96, 24, 3


def data(n: int = N_EXAMPLES):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(np.int64) + (X[:, 3] > 1)
    return X, y


def mlp(dtype, norm: type | None = None, seed: int = 0):
    gg.manual_seed(seed)
    layers = [gg.nn.Linear(4, 16, dtype=dtype)]
    if norm is not None:
        layers.append(norm(16, dtype=dtype))
    layers += [gg.nn.Tanh(), gg.nn.Linear(16, 3, dtype=dtype)]
    return gg.nn.Sequential(*layers)


def flat(model) -> np.ndarray:
    """Every parameter, flattened into one array."""
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def buffers(model) -> np.ndarray:
    """Every buffer (batch-norm running statistics), flattened into one array."""
    return np.concatenate([np.ravel(getattr(m, b)) for _, m in model.named_modules() for b in m._buffers] or [[]])


def train_loop(dtype, *, overlap: bool = False, norm: type | None = None, epochs: int = EPOCHS) -> dict:
    """A hand-written training loop over the rank's shard; the model starts from a seed that differs per rank
    (the optimiser's broadcast must make the replicas equal)."""
    world = dist.init()
    X, y = data()
    model = mlp(dtype, norm, seed=100 + world.rank)
    opt = dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3),
                                    overlap=overlap, bucket_mb=600 / 2 ** 20)
    loader = DataLoader(TensorDataset(X.astype(dtype), y), batch_size=GLOBAL_BATCH // world.size, shuffle=True,
                        seed=3, num_replicas=world.size, rank=world.rank)
    launched_in_backward = []
    for _ in range(epochs):
        for x, t in loader:
            opt.zero_grad()
            gg.nn.functional.cross_entropy(model(x), t).backward()
            launched_in_backward.append(opt._next)
            opt.step()
    return {"params": flat(model), "buffers": buffers(model), "buckets": len(opt.buckets), "launched_in_backward": np.array(launched_in_backward)}


def optimizer_state() -> dict:
    """Rank 0 alone takes an Adam step; broadcast_optimizer_state gives every rank its moments and step count."""
    world = dist.init()
    model = mlp(np.float64, seed=0)
    adam = gg.optim.Adam(model.parameters(), lr=0.01)
    if world.rank == 0:
        for p in model.parameters():
            p.grad = gg.Tensor(np.full(p.shape, 0.5))
        adam.step()
        adam.param_groups[0]["lr"] = 0.005
    dist.broadcast_optimizer_state(adam)
    state = adam.state_dict()
    moments = np.concatenate([s["exp_avg"].ravel() for s in state["state"].values()]) if state["state"] else np.zeros(0)
    return {"moments": moments, "lr": np.array(adam.param_groups[0]["lr"])}


def dropout_masks() -> dict:
    dist.manual_seed(5)
    first = gg.nn.functional.dropout(gg.ones(200), 0.5).numpy().copy()
    dist.manual_seed(5)
    again = gg.nn.functional.dropout(gg.ones(200), 0.5).numpy().copy()
    return {"first": first, "again": again}


SCENARIOS = {
    "loop64": lambda: train_loop(np.float64),
    "loop32": lambda: train_loop(np.float32),
    "overlap64": lambda: train_loop(np.float64, overlap=True),
    "syncbn": lambda: train_loop(np.float64, norm=dist.SyncBatchNorm),
    "localbn": lambda: train_loop(np.float64, norm=gg.nn.BatchNorm1d, epochs=1),
    "adam_state": optimizer_state,
    "dropout": dropout_masks,
}


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    world = dist.init()
    for name in argv[1:]:
        np.savez(out / f"{name}-rank{world.rank}.npz", **SCENARIOS[name]())


if __name__ == "__main__":
    main(sys.argv[1:])
