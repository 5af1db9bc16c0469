"""The training loop: ``fit`` runs epochs of mini-batch gradient descent and returns the history.

Each step is the whole algorithm of the notes: forward pass, cost, one backward pass for every
gradient, one update ``w ← w − η ∇C`` (or whichever rule the optimiser uses).
"""
from __future__ import annotations

import contextlib
import math
import sys
import time
from typing import Any, Callable, Iterable, Sequence

from glassgrad import engine
from glassgrad.compile import compile as compile_step
from glassgrad._backend import xp
from glassgrad.data import DataLoader, TensorDataset
from glassgrad.tensor import as_tensor, default_generator
from glassgrad.train import metrics as M
from glassgrad.train.callbacks import Callback, MetricsLogger
from glassgrad.train.checkpoint import load_checkpoint


class History:
    """Per-epoch metrics: ``history["val_accuracy"]`` is a list over epochs; ``stop_reason`` says why it ended."""

    def __init__(self, epochs: list[dict] | None = None):
        self.epochs: list[dict] = list(epochs or [])
        self.stop_reason: str | None = None

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict:
        return self.epochs[-1] if self.epochs else {}

    def __repr__(self):
        return f"History({len(self.epochs)} epochs, last={self.last()}, stop_reason={self.stop_reason!r})"


class TrainingState:
    """What callbacks see and may change: the model, optimiser, position and history; ``stop(reason)``."""

    def __init__(self, model, optimizer, loader: DataLoader, history: History, epochs: int, metadata: dict):
        self.model, self.optimizer, self.loader = model, optimizer, loader
        self.history, self.epochs, self.metadata = history, epochs, metadata
        self.epoch = len(history)          # epochs completed
        self.step = 0                      # batch within the current epoch
        self.stopped: str | None = None
        self.resumed = len(history) > 0

    def stop(self, reason: str) -> None:
        self.stopped = reason

    def resume_state(self) -> dict:
        """Everything besides model and optimiser that a bit-identical resume needs."""
        return {"epoch": self.epoch, "history": self.history.epochs,
                "loader_rng": self.loader.generator.bit_generator.state,
                "default_rng": default_generator.get_state()}

    def metadata_for_checkpoint(self) -> dict:
        return {**self.metadata, "epoch": self.epoch, "metrics": self.history.last()}


def _loader(data, batch_size: int, shuffle: bool, seed: int) -> DataLoader:
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return DataLoader(TensorDataset(*(xp.asarray(a) for a in data)), batch_size=batch_size, shuffle=shuffle,
                          seed=seed)
    raise TypeError(f"training data must be a DataLoader or an (inputs, targets) pair, not {type(data).__name__}")


def _epoch_logs(prefix: str, loss_sum: float, correct: int, n: int, classify: bool) -> dict:
    logs = {f"{prefix}loss": loss_sum / max(n, 1)}
    if classify:
        logs[f"{prefix}accuracy"] = correct / max(n, 1)
    return logs


@contextlib.contextmanager
def evaluating(model):
    """Eval mode and no graph inside the block; the model's previous mode afterwards."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with engine.no_grad():
            yield model
    finally:
        model.train(was_training)


def evaluate(model, data, loss: Callable | None = None, metrics: Sequence[str] = ("accuracy",),
             batch_size: int = 1024) -> dict:
    """Loss and accuracy of ``model`` on ``data`` (a DataLoader or an (inputs, targets) pair), in eval mode."""
    loader = _loader(data, batch_size, False, 0)
    loss_sum, right, n = 0.0, 0, 0
    with evaluating(model):
        for x, y in loader:
            out = model(x)
            if loss is not None:
                loss_sum += float(loss(out, y).item()) * len(x)
            if "accuracy" in metrics:
                right += M.correct(out.data, y.data)
            n += len(x)
    logs = {"accuracy": right / max(n, 1)} if "accuracy" in metrics else {}
    if loss is not None:
        logs["loss"] = loss_sum / max(n, 1)
    return logs


def predict(model, inputs, batch_size: int = 1024):
    """The model's outputs for an array of inputs, in eval mode, as one array."""
    inputs = xp.asarray(inputs)
    with evaluating(model):
        # at least one (possibly empty) batch, so an empty input still gives the output's shape
        outs = [model(as_tensor(inputs[i:i + batch_size])).data for i in range(0, max(len(inputs), 1), batch_size)]
    return xp.concatenate(outs)


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    # disable=None: no bar when stderr is not a terminal (CI logs, pipes), where it would garble the lines
    return tqdm(total=total, desc=desc, unit="batch", leave=False, dynamic_ncols=True, file=sys.stderr, disable=None)


def fit(model, loss: Callable, optimizer, train_data, epochs: int = 1, *, validation=None,
        metrics: Sequence[str] = ("accuracy",), callbacks: Iterable[Callback] = (), batch_size: int = 32,
        shuffle: bool = True, seed: int = 0, penalty: Callable | None = None, progress: bool = True,
        log: str | None = None, resume: str | None = None, metadata: dict | None = None,
        verbose: bool = True, compile: bool = False) -> History:
    """Train ``model`` for ``epochs`` epochs and return the ``History``.

    ``train_data`` and ``validation`` are DataLoaders or ``(inputs, targets)`` pairs (batched with
    ``batch_size``, shuffled with ``seed``). ``loss(output, target)`` is a scalar tensor; ``penalty(model)``
    is added to it (e.g. an L2 term). ``log`` is a ``.jsonl`` or ``.csv`` path for per-epoch metrics.
    If the loss becomes NaN or infinite, training stops and ``history.stop_reason`` names the epoch and
    step; checkpoints written before it are kept. ``resume`` continues from a checkpoint written by
    ``ModelCheckpoint``, bit-identically to an uninterrupted run. ``compile=True`` records the forward and
    backward pass once per batch shape and replays it (``gg.compile``): the same numbers, less overhead.
    """
    loader = _loader(train_data, batch_size, shuffle, seed)
    callbacks = list(callbacks) + ([MetricsLogger(log)] if log else [])
    history = History()
    if resume is not None:
        ckpt = load_checkpoint(resume).restore(model, optimizer)
        history = History(ckpt.extra["history"])
        loader.generator.bit_generator.state = ckpt.extra["loader_rng"]
        default_generator.set_state(ckpt.extra["default_rng"])
    state = TrainingState(model, optimizer, loader, history, epochs, dict(metadata or {}))
    classify = "accuracy" in metrics

    def forward(x, y):
        out = model(x)
        cost = loss(out, y)
        return (cost if penalty is None else cost + penalty(model)), out

    compiled = compile_step(forward) if compile else None
    for cb in callbacks:
        cb.on_train_begin(state)
    while state.epoch < epochs and not state.stopped:
        state.epoch += 1
        for cb in callbacks:
            cb.on_epoch_begin(state)
        model.train()
        loss_sum, right, n = 0.0, 0, 0
        bar = _progress(len(loader), f"epoch {state.epoch}/{epochs}", progress and verbose)
        started = time.perf_counter()
        for state.step, (x, y) in enumerate(loader, start=1):
            optimizer.zero_grad()
            cost, out = compiled(x, y) if compiled is not None else forward(x, y)   # compiled: backward done
            value = float(cost.item())
            if not math.isfinite(value):
                state.stop(f"the loss became {value} at epoch {state.epoch}, step {state.step}: training stopped; "
                           "checkpoints written before this point are kept")
                break
            if compiled is None:
                cost.backward()
            optimizer.step()
            for cb in callbacks:
                cb.on_batch_end(state, {"loss": value, "step": state.step})
            loss_sum += value * len(x)
            right += M.correct(out.data, y.data) if classify else 0
            n += len(x)
            if bar is not None:
                elapsed = time.perf_counter() - started
                post = {"loss": f"{loss_sum / n:.4f}", "ex/s": f"{n / max(elapsed, 1e-9):,.0f}"}
                if classify:
                    post["acc"] = f"{right / n:.3f}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
        if bar is not None:
            bar.close()
        if state.stopped:
            state.epoch -= 1
            break
        seconds = time.perf_counter() - started
        logs = {"epoch": state.epoch, **_epoch_logs("", loss_sum, right, n, classify)}
        if validation is not None:
            val = evaluate(model, validation, loss, metrics)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs.update(seconds=round(seconds, 4), examples_per_second=round(n / max(seconds, 1e-9), 1))
        history.epochs.append(logs)
        if verbose:
            print("  ".join(_fmt(k, v) for k, v in logs.items()), flush=True)
        for cb in callbacks:
            cb.on_epoch_end(state, logs)
    history.stop_reason = state.stopped
    if state.stopped and verbose:
        print(state.stopped, file=sys.stderr, flush=True)
    for cb in callbacks:
        cb.on_train_end(state)
    return history


def _fmt(key: str, value: Any) -> str:
    if key == "epoch":
        return f"epoch {value:>3}"
    if isinstance(value, float):
        return f"{key} {value:.4f}" if key != "examples_per_second" else f"{value:,.0f} ex/s"
    return f"{key} {value}"
