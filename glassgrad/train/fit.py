"""The training loop: ``fit`` runs epochs of mini-batch gradient descent and returns the history.

Each step is the whole algorithm of the notes: forward pass, cost, one backward pass for every
gradient, one update ``w ← w − η ∇C`` (or whichever rule the optimiser uses).
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence, TypeAlias, Union

from numpy.typing import ArrayLike

from glassgrad import engine
from glassgrad._backend import ndarray, xp
from glassgrad.checks import check_int
from glassgrad.compile import compile as compile_step
from glassgrad.data import DataLoader, TensorDataset
from glassgrad.device import Device, array_module, creating_on, to_host
from glassgrad.device import device as as_device
from glassgrad.state import commit_all, nonfinite_kind
from glassgrad.tensor import Tensor, as_tensor, default_generator
from glassgrad.train import metrics as M
from glassgrad.train.callbacks import Callback, CallbackList, MetricsLogger, NonFiniteStop, PrintMetrics, ProgressBar
from glassgrad.train.checkpoint import load_checkpoint

if TYPE_CHECKING:      # for annotations only
    from glassgrad.nn import Module
    from glassgrad.optim import Optimizer

Data: TypeAlias = Union[DataLoader, tuple[ArrayLike, ArrayLike]]
"""Training or evaluation data: a DataLoader, or an ``(inputs, targets)`` pair of arrays."""


class History:
    """Per-epoch metrics: ``history["val_accuracy"]`` is a list over epochs; ``stop_reason`` says why it ended
    early (None if it ran every epoch) and ``fault`` whether that was a numerical fault (NaN/inf)."""

    def __init__(self, epochs: list[dict] | None = None):
        self.epochs: list[dict] = list(epochs or [])
        self.stop_reason: str | None = None
        self.fault = False

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def last(self) -> dict:
        """The last epoch's metrics ({} before the first)."""
        return self.epochs[-1] if self.epochs else {}

    def __repr__(self) -> str:
        return f"History({len(self.epochs)} epochs, last={self.last()}, stop_reason={self.stop_reason!r})"


class TrainingState:
    """What callbacks see and may change: the model, optimiser, loader, position (``epoch``: the current
    epoch while it runs, the epochs completed after it; ``step``: the batch within it), ``history``,
    ``running`` (this epoch's metrics so far), ``stop(reason)``, and ``is_writer`` (whether this process
    writes files and prints; see ``glassgrad.train.callbacks``)."""

    def __init__(self, model: Module, optimizer: Optimizer, loader: DataLoader, history: History, epochs: int,
                 metadata: dict, device: Device | None = None):
        self.model, self.optimizer, self.loader = model, optimizer, loader
        self.device = device               # where batches are moved (None: left where the loader puts them)
        self.history, self.epochs, self.metadata = history, epochs, metadata
        self.epoch = len(history)          # epochs completed
        self.step = 0                      # batch within the current epoch
        self.running: dict[str, float] = {}
        self.stopped: str | None = None
        self.fault = False
        self.resumed = len(history) > 0
        self.is_writer = True

    def stop(self, reason: str, *, fault: bool = False) -> None:
        """End training after this step (``fault``: a numerical fault) — before the update if called from
        ``on_backward_end``, at the end of the epoch otherwise."""
        self.stopped = reason
        self.fault = self.fault or fault

    def resume_state(self) -> dict:
        """Everything besides model and optimiser that a bit-identical resume needs."""
        return {"epoch": self.epoch, "history": self.history.epochs,
                "loader_rng": self.loader.generator.bit_generator.state,
                "default_rng": default_generator.get_state()}

    def metadata_for_checkpoint(self) -> dict:
        """The run's metadata with the epoch and its metrics, for a checkpoint."""
        return {**self.metadata, "epoch": self.epoch, "metrics": self.history.last()}


def _loader(data, batch_size: int, shuffle: bool, seed: int, what: str = "training data") -> DataLoader:
    if isinstance(data, DataLoader):
        loader = data
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        arrays = [_numeric_array(a, f"{what} {part}") for a, part in zip(data, ("inputs", "targets"))]
        if len(arrays[0]) != len(arrays[1]):
            raise ValueError(f"{what}: {len(arrays[0])} inputs but {len(arrays[1])} targets; each input needs "
                             "its target")
        loader = DataLoader(TensorDataset(*arrays), batch_size=batch_size, shuffle=shuffle, seed=seed)
    else:
        raise TypeError(f"{what} must be a DataLoader or an (inputs, targets) pair, not {type(data).__name__}")
    if len(loader.dataset) == 0:
        raise ValueError(f"{what} has no examples")
    return loader


def _numeric_array(a, what: str):
    # kept on the host (a tensor on a GPU is copied back): batches are gathered there and moved one at a time
    array = to_host(a)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be numbers, not {array.dtype} (convert it with .astype(np.float32) or, "
                        "for labels, to integers)")
    if array.ndim == 0:
        raise ValueError(f"{what} is a single number; it needs one row per example")
    return array


def _check_finite(loader: DataLoader, what: str) -> None:
    """Refuse NaN/inf in the arrays of a ``TensorDataset`` (other datasets are checked step by step)."""
    for part, array in zip(("inputs", "targets", "third array"), getattr(loader.dataset, "arrays", ())):
        kind = nonfinite_kind(array)
        if kind is not None:
            rows = xp.flatnonzero(~xp.isfinite(array.reshape(len(array), -1)).all(axis=1))
            raise ValueError(f"the {what} {part} hold {kind} values in {len(rows)} example(s) (first: row "
                             f"{int(rows[0])}); remove or fix those rows (or pass check_inputs=False to train "
                             "on them anyway)")


def _epoch_logs(prefix: str, loss_sum: float, correct: int, n: int, classify: bool) -> dict:
    logs = {f"{prefix}loss": loss_sum / max(n, 1)}
    if classify:
        logs[f"{prefix}accuracy"] = correct / max(n, 1)
    return logs


@contextlib.contextmanager
def evaluating(model: Module) -> Iterator[Module]:
    """Eval mode and no graph inside the block; the model's previous mode afterwards."""
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with engine.no_grad():
            yield model
    finally:
        model.train(was_training)


def _on(batch: Tensor, device: Device | None) -> Tensor:
    """A batch on ``device`` (None: where it is)."""
    return batch if device is None else batch.to(device)


def evaluate(model: Module, data: Data, loss: Callable | None = None, metrics: Sequence[str] = ("accuracy",),
             batch_size: int = 1024, device: str | Device | None = None) -> dict:
    """Loss and accuracy of ``model`` on ``data`` (a DataLoader or an (inputs, targets) pair), in eval mode;
    ``device``: move each batch there (where the model is) first."""
    target = None if device is None else as_device(device)
    loader = _loader(data, batch_size, False, 0, "evaluation data")
    loss_sum, right, n = 0.0, 0, 0
    with evaluating(model), creating_on(target):   # that GPU current: arrays the gates make land beside their inputs
        for x, y in loader:
            x, y = _on(x, target), _on(y, target)
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


def predict(model: Module, inputs: ArrayLike, batch_size: int = 1024, device: str | Device | None = None) -> ndarray:
    """The model's outputs for an array of inputs, in eval mode, as one NumPy array. ``device``: run the
    batches there (where the model is); the outputs are brought back to the host."""
    target = None if device is None else as_device(device)
    inputs = to_host(inputs)
    with evaluating(model), creating_on(target):
        # at least one (possibly empty) batch, so an empty input still gives the output's shape
        outs = [model(_on(as_tensor(inputs[i:i + batch_size]), target)).data
                for i in range(0, max(len(inputs), 1), batch_size)]
        return to_host(array_module(outs[0]).concatenate(outs))


class _Step:
    """One training step — zero_grad, forward, backward, ``after_backward(loss value)``, and the update
    unless that returned False — eager, or compiled as one whole step (``gg.compile(..., optimizer=)``)."""

    def __init__(self, model, loss: Callable, penalty: Callable | None, optimizer, compiled: bool):
        self.model, self.loss, self.penalty, self.optimizer = model, loss, penalty, optimizer
        self.after_backward: Callable[[float], bool] = lambda value: True
        self.value = math.nan
        # keep_grads: the callbacks (the non-finite check, distributed averaging) read each .grad
        self.compiled = compile_step(self.forward, optimizer=optimizer, guard=self._guard,
                                     keep_grads=True) if compiled else None

    def forward(self, x, y):
        out = self.model(x)
        cost = self.loss(out, y)
        return (cost if self.penalty is None else cost + self.penalty(self.model)), out

    def _guard(self, loss) -> bool:
        self.value = float(loss)
        return self.after_backward(self.value)

    def __call__(self, x, y, after_backward: Callable[[float], bool]):
        """(loss value, output) after the step; the update ran if ``after_backward`` returned True."""
        if self.compiled is not None:
            self.after_backward = after_backward
            out = self.compiled(x, y)[1]          # the whole step, after_backward (the guard) included
            return self.value, out
        self.optimizer.zero_grad()
        cost, out = self.forward(x, y)
        cost.backward()
        value = float(cost.item())
        if after_backward(value):
            self.optimizer.step()
        return value, out


def _run_epoch(state: TrainingState, step: _Step, callbacks: CallbackList,
               classify: bool) -> tuple[dict, dict] | None:
    """One pass over the loader: for each batch the step, the update, the callbacks. The epoch's training
    metrics and timing, or None if a callback stopped training before an update (the epoch is then not
    complete)."""
    model = state.model
    model.train()
    loss_sum, right, n = 0.0, 0, 0
    started = time.perf_counter()
    for step_number, (x, y) in enumerate(state.loader, start=1):
        x, y = _on(x, state.device), _on(y, state.device)
        state.step = step_number
        logs: dict = {}

        def after_backward(value: float, logs: dict = logs) -> bool:   # gradients ready, no update yet
            logs.update(loss=value, step=state.step)
            callbacks.on_backward_end(state, logs)
            return not state.stopped

        value, out = step(x, y, after_backward)
        if state.stopped:
            return None
        loss_sum += value * len(x)
        right += M.correct(out.data, y.data) if classify else 0
        n += len(x)
        state.running = {**_epoch_logs("", loss_sum, right, n, classify),
                         "examples_per_second": n / max(time.perf_counter() - started, 1e-9)}
        callbacks.on_batch_end(state, logs)
    seconds = time.perf_counter() - started
    return ({"epoch": state.epoch, **_epoch_logs("", loss_sum, right, n, classify)},
            {"seconds": round(seconds, 4), "examples_per_second": round(n / max(seconds, 1e-9), 1)})


def _resume(path, model, optimizer, loader: DataLoader) -> History:
    """Restore model, optimiser, shuffling state and the default generator from a checkpoint: all or
    nothing (everything is checked before anything changes; a ``CheckpointError`` names the problem)."""
    ckpt = load_checkpoint(path)
    history, set_generators = ckpt.prepare_resume(loader.generator.bit_generator, default_generator.rng.bit_generator)
    commit_all(ckpt.prepare_restore(model, optimizer), set_generators)
    return History(history)


def _moved_and_resumed(model, optimizer, loader: DataLoader, target: Device | None, resume: str | None) -> History:
    """Move the model to ``target``, then resume from the checkpoint ``resume`` (its arrays load straight onto
    the device); if the checkpoint is refused the model goes back where it was, so nothing has changed."""
    before = getattr(model, "device", None) if target is not None else None
    if target is not None:
        model.to(target)
    if resume is None:
        return History()
    try:
        return _resume(resume, model, optimizer, loader)
    except BaseException:
        if before is not None:
            model.to(before)
        raise


def _standard_callbacks(log: str | None, progress: bool, verbose: bool) -> list[Callback]:
    """The callbacks fit's own arguments ask for: the metrics log, the progress bar, the printout."""
    chosen: list[Callback] = [MetricsLogger(log)] if log else []
    if verbose:
        chosen += [ProgressBar(), PrintMetrics()] if progress else [PrintMetrics()]
    return chosen


def fit(model: Module, loss: Callable, optimizer: Optimizer, train_data: Data, epochs: int = 1, *,
        validation: Data | None = None,
        metrics: Sequence[str] = ("accuracy",), callbacks: Iterable[Callback] = (), batch_size: int = 32,
        shuffle: bool = True, seed: int = 0, penalty: Callable | None = None, progress: bool = True,
        log: str | None = None, resume: str | None = None, metadata: dict | None = None,
        verbose: bool = True, compile: bool = False, check_inputs: bool = True,
        device: str | Device | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return the ``History``.

    ``train_data`` and ``validation`` are DataLoaders or ``(inputs, targets)`` pairs (batched with
    ``batch_size``, shuffled with ``seed``). ``loss(output, target)`` is a scalar tensor; ``penalty(model)``
    is added to it (e.g. an L2 term). ``log`` is a ``.jsonl`` or ``.csv`` path for per-epoch metrics.
    Arguments and data are checked before anything changes; ``check_inputs`` also refuses NaN/inf in
    array data (one pass over it). If the loss or a gradient becomes NaN or infinite, training stops
    before that update and ``history.stop_reason`` names the epoch, the step and the parameter;
    checkpoints written before it are kept. ``resume`` continues from a checkpoint written by
    ``ModelCheckpoint``, bit-identically to an uninterrupted run (all or nothing: a bad checkpoint raises
    ``CheckpointError`` and changes nothing). ``compile=True`` records the whole step — forward, backward,
    the callbacks' ``on_backward_end`` and the optimizer's update — once per batch shape and replays it as
    one generated function (``gg.compile(..., optimizer=)``): the same numbers, less overhead. The progress bar,
    printing, non-finite stop, log and checkpoints are callbacks (``glassgrad.train.callbacks``).
    ``device`` (``"cuda"``, ``"cuda:1"``, ``"cpu"``): move the model there (``model.to(device)``, in place,
    after the checks) and every batch as it is drawn; None (default) leaves both where they are.
    """
    check_int("fit epochs", epochs)
    check_int("fit batch_size", batch_size)
    target = None if device is None else as_device(device)
    if target is not None and not callable(getattr(model, "to", None)):
        raise TypeError(f"fit: device={device!r} needs a model with .to(device) (a glassgrad nn.Module), not a "
                        f"{type(model).__name__}")
    loader = _loader(train_data, batch_size, shuffle, seed)
    validation = None if validation is None else _loader(validation, 1024, False, 0, "validation data")
    if check_inputs:
        _check_finite(loader, "training")
        if validation is not None:
            _check_finite(validation, "validation")
    # an optimiser may bring callbacks of its own (glassgrad.distributed's: data parallelism over ranks)
    hooks = CallbackList([NonFiniteStop(), *getattr(optimizer, "fit_callbacks", ()), *callbacks,
                          *_standard_callbacks(log, progress, verbose)])
    step = _Step(model, loss, penalty, optimizer, compile)
    history = _moved_and_resumed(model, optimizer, loader, target, resume)
    state = TrainingState(model, optimizer, loader, history, epochs, dict(metadata or {}), target)
    classify = "accuracy" in metrics
    try:
        hooks.on_train_begin(state)
        while state.epoch < epochs and not state.stopped:
            state.epoch += 1
            hooks.on_epoch_begin(state)
            with creating_on(target):   # that GPU current: arrays the gates make land beside their inputs
                epoch = _run_epoch(state, step, hooks, classify)
            if epoch is None:
                state.epoch -= 1
                break
            logs, timing = epoch
            if validation is not None:
                logs.update({f"val_{k}": v
                             for k, v in evaluate(model, validation, loss, metrics, device=target).items()})
            logs.update(timing)
            history.epochs.append(logs)
            hooks.on_epoch_end(state, logs)
    except BaseException as error:
        hooks.on_train_error(state, error)
        raise
    history.stop_reason, history.fault = state.stopped, state.fault
    hooks.on_train_end(state)
    return history
