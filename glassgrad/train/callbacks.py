"""Callbacks: code that runs at points of the fit loop (epoch end, batch end) and may stop it."""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from glassgrad.train.checkpoint import save_checkpoint


class Callback:
    """Override any of these; ``state`` is the running ``TrainingState`` (model, optimizer, epoch, history)."""

    def on_train_begin(self, state) -> None: ...
    def on_epoch_begin(self, state) -> None: ...
    def on_batch_end(self, state, logs: dict) -> None: ...
    def on_epoch_end(self, state, logs: dict) -> None: ...
    def on_train_end(self, state) -> None: ...


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

    def on_epoch_end(self, state, logs: dict) -> None:
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
    """Save model, optimiser and everything needed to resume, atomically, after each epoch (or the best)."""

    def __init__(self, path: str | Path, monitor: str | None = None, mode: str = "auto", save_best_only: bool = False):
        self.path = Path(path)
        self.monitor = monitor
        self.mode = _mode(monitor or "loss", mode)
        self.save_best_only = save_best_only
        self.best = None

    def on_epoch_end(self, state, logs: dict) -> None:
        if self.save_best_only:
            value = logs.get(self.monitor or "val_loss")
            if value is None or not _improved(value, self.best, self.mode, 0.0):
                return
            self.best = value
        save_checkpoint(self.path, state.model, state.optimizer, metadata=state.metadata_for_checkpoint(),
                        extra=state.resume_state())


class MetricsLogger(Callback):
    """One row per epoch in a JSON-lines (``.jsonl``) or CSV (``.csv``) file."""

    def __init__(self, path: str | Path, append: bool = False):
        self.path = Path(path)
        self.append = append
        if self.path.suffix not in (".jsonl", ".csv"):
            raise ValueError(f"MetricsLogger: {self.path} should end in .jsonl or .csv")

    def on_train_begin(self, state) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not (self.append or state.resumed):
            self.path.write_text("")

    def on_epoch_end(self, state, logs: dict) -> None:
        row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in logs.items()}
        with self.path.open("a", newline="") as f:
            if self.path.suffix == ".jsonl":
                f.write(json.dumps(row) + "\n")
            else:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if f.tell() == 0:
                    writer.writeheader()
                writer.writerow(row)
