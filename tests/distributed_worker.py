"""Runs under ``mpirun`` for tests/test_distributed.py (and in-process, as a world of one, for the reference
runs): small trainings whose results each rank writes to ``<out>/<scenario>-rank<r>.npz``."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import glassgrad as gg
from glassgrad import distributed as dist
from glassgrad.data import DataLoader, TensorDataset
from glassgrad.device import device_of, to_host

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
    return np.concatenate([to_host(p.data).ravel() for p in model.parameters()])


def buffers(model) -> np.ndarray:
    """Every buffer (batch-norm running statistics), flattened into one array."""
    return np.concatenate([to_host(b).ravel() for b in model.buffers()] or [[]])


def train_loop(dtype, *, overlap: bool = False, norm: type | None = None, epochs: int = EPOCHS,
               device: str | None = None) -> dict:
    """A hand-written training loop over the rank's shard; the model starts from a seed that differs per rank
    (the optimiser's broadcast must make the replicas equal). ``device``: model and batches there."""
    world = dist.init()
    X, y = data()
    model = mlp(dtype, norm, seed=100 + world.rank)
    if device is not None:
        model.to(device)
    opt = dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3),
                                    overlap=overlap, bucket_mb=600 / 2 ** 20)
    loader = DataLoader(TensorDataset(X.astype(dtype), y), batch_size=GLOBAL_BATCH // world.size, shuffle=True,
                        seed=3, num_replicas=world.size, rank=world.rank, device=device)
    launched_in_backward = []
    for _ in range(epochs):
        for x, t in loader:
            opt.zero_grad()
            gg.nn.functional.cross_entropy(model(x), t).backward()
            launched_in_backward.append(opt._next)
            opt.step()
    opt.close()
    return {"params": flat(model), "buffers": buffers(model), "buckets": len(opt.buckets),
            "launched_in_backward": np.array(launched_in_backward)}


def optimizer_state(device: str = "cpu") -> dict:
    """Rank 0 alone takes an Adam step; broadcast_optimizer_state gives every rank its moments and step count."""
    world = dist.init()
    model = mlp(np.float64, seed=0).to(device)
    adam = gg.optim.Adam(model.parameters(), lr=0.01)
    if world.rank == 0:
        for p in model.parameters():
            p.grad = gg.tensor(np.full(p.shape, 0.5), device=device)
        adam.step()
        adam.param_groups[0]["lr"] = 0.005
    dist.broadcast_optimizer_state(adam)
    state = adam.state_dict()
    moments = (np.concatenate([to_host(s["exp_avg"]).ravel() for s in state["state"].values()]) if state["state"]
               else np.zeros(0))
    on_device = all(p.device == device for p in model.parameters()) and all(
        device_of(s["exp_avg"]) == device for s in state["state"].values())
    return {"moments": moments, "lr": np.array(adam.param_groups[0]["lr"]), "on_device": np.array(on_device)}


def dropout_masks() -> dict:
    dist.manual_seed(5)
    first = gg.nn.functional.dropout(gg.ones(200), 0.5).numpy().copy()
    dist.manual_seed(5)
    again = gg.nn.functional.dropout(gg.ones(200), 0.5).numpy().copy()
    return {"first": first, "again": again}


def train_fit(out: Path, *, epochs: int = EPOCHS, n: int = N_EXAMPLES, batch: int = GLOBAL_BATCH, shuffle: bool = True,
              resume: str | None = None, loss=None, tag: str = "fit", padded: int | None = None,
              extra_callbacks: tuple = ()) -> dict:
    """``fit`` as a user writes it, with the one-line change; the checkpoint and log names carry the rank, so
    the test can see that only rank 0 wrote."""
    from glassgrad.train import ModelCheckpoint, fit

    world = dist.init()
    X, y = data(n)
    if padded is not None:     # a one-process reference for padding: the first examples again at the end
        X, y = np.resize(X, (padded, X.shape[1])), np.resize(y, padded)
    model = mlp(np.float64, seed=100 + world.rank)
    opt = dist.DistributedOptimizer(gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    history = fit(model, loss or gg.nn.functional.cross_entropy, opt, (X, y), epochs, batch_size=batch,
                  shuffle=shuffle, seed=3, validation=(X[:32], y[:32]), progress=False,
                  callbacks=[ModelCheckpoint(out / f"{tag}-checkpoint-rank{world.rank}.npz"), *extra_callbacks],
                  log=str(out / f"{tag}-log-rank{world.rank}.jsonl"), resume=resume)
    return {"params": flat(model), "loss": np.array(history["loss"]), "val_loss": np.array(history["val_loss"]),
            "epochs": len(history), "stop_reason": str(history.stop_reason), "fault": history.fault}


def nan_on_rank_1(out: Path) -> dict:
    """The loss becomes NaN on rank 1 only, at its 6th call (4 steps and a validation make epoch 1: epoch 2,
    step 1): every rank must stop there."""
    world = dist.init()
    calls = [0]

    def loss(output, target):
        calls[0] += 1
        value = gg.nn.functional.cross_entropy(output, target)
        return value * float("nan") if world.rank == 1 and calls[0] == 6 else value

    return train_fit(out, loss=loss, tag="nan")


def interrupt_on_rank_1(out: Path) -> dict:
    """Ctrl-C reaches rank 1 alone, at epoch 2, step 1: the job must end, no rank left waiting."""
    world = dist.init()
    calls = [0]

    def loss(output, target):
        calls[0] += 1
        if world.rank == 1 and calls[0] == 6:
            raise KeyboardInterrupt
        return gg.nn.functional.cross_entropy(output, target)

    return train_fit(out, loss=loss, tag="interrupt")


SCENARIOS = {
    "loop64": lambda: train_loop(np.float64),
    "loop32": lambda: train_loop(np.float32),
    "overlap64": lambda: train_loop(np.float64, overlap=True),
    "syncbn": lambda: train_loop(np.float64, norm=dist.SyncBatchNorm),
    "localbn": lambda: train_loop(np.float64, norm=gg.nn.BatchNorm1d, epochs=1),
    "adam_state": optimizer_state,
    "dropout": dropout_masks,
    # the same on the stand-in "cuda" device of tests/devices.py: device arrays through MPI's host buffers
    "standin_syncbn": lambda: on_standin(lambda: train_loop(np.float64, norm=dist.SyncBatchNorm, device="cuda")),
    "standin_overlap": lambda: on_standin(lambda: train_loop(np.float64, overlap=True, device="cuda")),
    "standin_adam_state": lambda: on_standin(lambda: optimizer_state("cuda")),
}


def on_standin(run):
    """``run()`` with the CPU stand-in of tests/devices.py registered as this rank's "cuda" device."""
    from devices import standin_registered

    with standin_registered():
        return run()


def slow(out: Path) -> dict:
    """Many slow epochs (the test sends Ctrl-C to mpirun meanwhile); each rank first writes its process id."""
    import os
    import time

    (out / f"pid-rank{dist.init().rank}").write_text(str(os.getpid()))

    def loss(output, target):
        time.sleep(0.02)
        return gg.nn.functional.cross_entropy(output, target)

    return train_fit(out, epochs=1000, loss=loss, tag="slow")


def stop_on_rank_1(out: Path) -> dict:
    """A callback on rank 1 alone stops training at the end of epoch 2 (as early stopping on one rank would)."""
    from glassgrad.train import Callback

    class StopAfterTwo(Callback):
        def on_epoch_end(self, state, logs: dict) -> None:
            if dist.init().rank == 1 and state.epoch == 2:
                state.stop("rank 1's own reason")

    return train_fit(out, extra_callbacks=[StopAfterTwo()], tag="stop_one")


FIT_SCENARIOS = {
    "fit": lambda out: train_fit(out),
    "first_half": lambda out: train_fit(out, epochs=2, tag="half"),          # then resumed on other rank counts
    "second_half": lambda out: train_fit(out, epochs=4, resume=str(out / "half-checkpoint-rank0.npz"), tag="resumed"),
    "uneven": lambda out: train_fit(out, n=100, batch=30, shuffle=False, tag="uneven"),
    "nan": nan_on_rank_1,
    "stop_one": stop_on_rank_1,
    "interrupt": interrupt_on_rank_1,
    "slow": slow,
}


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    world = dist.init()
    for name in argv[1:]:
        result = SCENARIOS[name]() if name in SCENARIOS else FIT_SCENARIOS[name](out)
        np.savez(out / f"{name}-rank{world.rank}.npz", **result)


if __name__ == "__main__":
    main(sys.argv[1:])
