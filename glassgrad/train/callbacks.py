"""Callbacks: code that runs at points of the fit loop and may stop it — the one extension point of ``fit``.

``fit`` itself is a short loop; the progress bar, the per-epoch printout, the non-finite stop, metrics logs
and checkpoints are all callbacks on this interface, and so is anything a user adds.

Order: at every hook the callbacks run sorted by their ``order`` (stable: equal orders keep the order they
were given). ``ORDER_REDUCE`` is for callbacks that combine values across processes (average gradients
or metrics in data-parallel training) so that every later callback sees the combined values;
``ORDER_CHECK`` for the finite checks; ``ORDER_REPORT`` for what prints.

Writers: a callback that writes files or to the terminal sets ``writer_only = True``; fit skips it in a
process whose ``state.is_writer`` is False. ``state.is_writer`` is the one place that says whether this
process writes (True unless a callback — e.g. a data-parallel one on rank > 0 — sets it False in its
``on_train_begin``, which runs first when its order is ``ORDER_REDUCE``).
"""
from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from glassgrad.state import first_nonfinite
from glassgrad.train.checkpoint import save_checkpoint

if TYPE_CHECKING:      # for annotations only (fit imports this module)
    from glassgrad.train.fit import TrainingState

ORDER_REDUCE = -100
ORDER_CHECK = -50
ORDER_DEFAULT = 0
ORDER_REPORT = 100


class Callback:
    """Override any of these; ``state`` is the running ``TrainingState`` (model, optimizer, epoch, step,
    history, ``stop(reason)``, ``is_writer``).

    Per step: the forward and backward pass, then ``on_backward_end`` (gradients are ready and the update
    is not yet applied: a callback that calls ``state.stop`` here prevents it), then the update, then
    ``on_batch_end``. ``on_train_error`` runs when an exception (Ctrl-C included) leaves ``fit``; the
    exception then continues.
    """

    #: hooks run in ascending order (see the module docstring)
    order: int = ORDER_DEFAULT
    #: True for callbacks that write files or print: skipped where ``state.is_writer`` is False
    writer_only: bool = False

    def on_train_begin(self, state: TrainingState) -> None:
        """Before the first epoch."""

    def on_epoch_begin(self, state: TrainingState) -> None:
        """Before each epoch's first step."""

    def on_backward_end(self, state: TrainingState, logs: dict) -> None:
        """After a step's backward pass, before its update (``logs``: the step's loss)."""

    def on_batch_end(self, state: TrainingState, logs: dict) -> None:
        """After a step's update."""

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        """After each epoch (``logs``: its metrics)."""

    def on_train_end(self, state: TrainingState) -> None:
        """After the last epoch, or when training stopped."""

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        """When an exception leaves fit (it continues afterwards)."""


HOOKS = ("on_train_begin", "on_epoch_begin", "on_backward_end", "on_batch_end", "on_epoch_end", "on_train_end",
         "on_train_error")


class CallbackList:
    """Callbacks in their order; calling a hook on it calls it on each (skipping writers where the
    process is not the writer)."""

    def __init__(self, callbacks: Iterable[Callback]):
        callbacks = list(callbacks)
        for cb in callbacks:
            if isinstance(cb, type) or not any(callable(getattr(cb, h, None)) for h in HOOKS):
                raise TypeError(f"callbacks must be Callback objects (with on_epoch_end and the like), not "
                                f"{cb!r}" + (" (a class: create one with ())" if isinstance(cb, type) else ""))
        self.callbacks = sorted(callbacks, key=lambda cb: getattr(cb, "order", ORDER_DEFAULT))

    def __getattr__(self, hook: str) -> Callable[..., None]:
        if hook not in HOOKS:
            raise AttributeError(hook)

        def call(state, *args: Any) -> None:
            for cb in self.callbacks:
                method = getattr(cb, hook, None)       # objects that are not Callbacks may lack some hooks
                if method is not None and (state.is_writer or not getattr(cb, "writer_only", False)):
                    method(state, *args)
        return call


class NonFiniteStop(Callback):
    """Stop before an update that would use a NaN or infinite loss or gradient, naming the epoch, the step
    and the first parameter (in ``named_parameters()`` order) whose gradient is not finite.

    Cost: one summing pass over every gradient per step (about as much as adding the update); only a
    non-finite sum is looked at element by element.
    """

    order = ORDER_CHECK

    def on_train_begin(self, state: TrainingState) -> None:
        """List the parameters to watch, by name."""
        named = getattr(state.model, "named_parameters", None)
        params = list(named()) if callable(named) else []
        groups = getattr(state.optimizer, "param_groups", [])
        known = {id(p) for _, p in params}
        params += [(f"param_groups[{gi}][{i}]", p) for gi, g in enumerate(groups) for i, p in enumerate(g["params"])
                   if id(p) not in known]
        self.params = params

    def on_backward_end(self, state: TrainingState, logs: dict) -> None:
        """Stop before the update when the loss or a gradient is NaN or infinite."""
        where = f"at epoch {state.epoch}, step {state.step}: training stopped before this step's update"
        loss = logs["loss"]
        if not math.isfinite(loss):
            state.stop(f"the loss became {loss} {where}; checkpoints written before this point are kept",
                       fault=True)
            return
        bad = first_nonfinite((name, None if p.grad is None else getattr(p.grad, "data", p.grad))
                              for name, p in self.params)
        if bad is not None:
            state.stop(f"the gradient of {bad[0]} became {bad[1]} {where} (the loss was {loss:.6g}); check the "
                       "inputs for NaN/inf, or lower the learning rate; checkpoints written before this point "
                       "are kept", fault=True)


class ProgressBar(Callback):
    """A tqdm bar per epoch with the running loss, accuracy and examples/s (only on a terminal)."""

    order, writer_only = ORDER_REPORT, True

    def __init__(self):
        self.bar = None

    def on_epoch_begin(self, state: TrainingState) -> None:
        """Open the epoch's bar (when tqdm is installed)."""
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        # disable=None: no bar when stderr is not a terminal (CI logs, pipes), where it would garble the lines
        self.bar = tqdm(total=len(state.loader), desc=f"epoch {state.epoch}/{state.epochs}", unit="batch",
                        leave=False, dynamic_ncols=True, file=sys.stderr, disable=None)

    def on_batch_end(self, state: TrainingState, logs: dict) -> None:
        """Advance the bar and show the running metrics."""
        if self.bar is None:
            return
        running = state.running
        post = {"loss": f"{running['loss']:.4f}", "ex/s": f"{running['examples_per_second']:,.0f}"}
        if "accuracy" in running:
            post["acc"] = f"{running['accuracy']:.3f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        """Close the bar."""
        self._close()

    def on_train_end(self, state: TrainingState) -> None:
        """Close the bar."""
        self._close()

    def on_train_error(self, state: TrainingState, error: BaseException) -> None:
        """Close the bar."""
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class PrintMetrics(Callback):
    """One line of metrics per epoch on standard output; why training stopped early, on standard error."""

    order, writer_only = ORDER_REPORT, True

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        """Print the epoch's metrics on one line."""
        print("  ".join(_fmt(k, v) for k, v in logs.items()), flush=True)

    def on_train_end(self, state: TrainingState) -> None:
        """Print why training stopped early, if it did (on standard error)."""
        if state.stopped:
            print(state.stopped, file=sys.stderr, flush=True)


def _fmt(key: str, value: Any) -> str:
    if key == "epoch":
        return f"epoch {value:>3}"
    if isinstance(value, float):
        return f"{key} {value:.4f}" if key != "examples_per_second" else f"{value:,.0f} ex/s"
    return f"{key} {value}"


def _improved(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _mode(monitor: str, mode: str) -> str:
    if mode == "auto":
        return "max" if "acc" in monitor else "min"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'min', 'max' or 'auto', not {mode!r}")
    return mode


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto"):
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = _mode(monitor, mode)
        self.best, self.waited = None, 0

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        """Stop training once the monitored metric has not improved for ``patience`` epochs."""
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: no metric {self.monitor!r} this epoch; have {sorted(logs)}")
        if _improved(logs[self.monitor], self.best, self.mode, self.min_delta):
            self.best, self.waited = logs[self.monitor], 0
            return
        self.waited += 1
        if self.waited >= self.patience:
            state.stop(f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                       f"(best {self.best:.6g})")


class ModelCheckpoint(Callback):
    """Save model, optimiser and everything needed to resume, atomically, after each epoch (or the best).

    Weights that are not finite are never written: training stops instead, and the file keeps the last
    good epoch.
    """

    writer_only = True

    def __init__(self, path: str | Path, monitor: str | None = None, mode: str = "auto", save_best_only: bool = False):
        self.path = Path(path)
        self.monitor = monitor
        self.mode = _mode(monitor or "loss", mode)
        self.save_best_only = save_best_only
        self.best = None

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        """Save the checkpoint (only an improvement with save_best_only); stop on non-finite weights."""
        if self.save_best_only:
            value = logs.get(self.monitor or "val_loss")
            if value is None or not _improved(value, self.best, self.mode, 0.0):
                return
            self.best = value
        bad = first_nonfinite(state.model.state_dict().items())
        if bad is not None:
            state.stop(f"{bad[0]} holds {bad[1]} values after epoch {state.epoch}: training stopped and {self.path} "
                       "was not overwritten (it keeps the last finite epoch)", fault=True)
            return
        save_checkpoint(self.path, state.model, state.optimizer, metadata=state.metadata_for_checkpoint(),
                        extra=state.resume_state())


class MetricsLogger(Callback):
    """One row per epoch in a JSON-lines (``.jsonl``) or CSV (``.csv``) file."""

    writer_only = True

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self.append = append
        if self.path.suffix not in (".jsonl", ".csv"):
            raise ValueError(f"MetricsLogger: {self.path} should end in .jsonl or .csv")

    def on_train_begin(self, state: TrainingState) -> None:
        """Start the file afresh, unless appending or resuming."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not (self.append or state.resumed):
            self.path.write_text("")

    def on_epoch_end(self, state: TrainingState, logs: dict) -> None:
        """Append the epoch's metrics as one row."""
        row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in logs.items()}
        with self.path.open("a", newline="") as f:
            if self.path.suffix == ".jsonl":
                f.write(json.dumps(row) + "\n")
            else:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if f.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)
