"""Learning-rate schedules: set each parameter group's ``lr`` from its initial value and the epoch count.

Use as in PyTorch: build the scheduler after the optimiser (it records each group's ``initial_lr`` and
sets epoch 0), then call ``scheduler.step()`` once per epoch, after ``optimizer.step()``::

    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(...)          # calls opt.step()
        sched.step()

The learning rates are computed in closed form from the initial ones (the values agree with PyTorch's
recursive formulas), so a schedule does not drift, but schedulers do not chain: the last one to step
sets the learning rate.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

from glassgrad.checks import check_int, check_number
from glassgrad.optim.optimizer import Optimizer

__all__ = ["LRScheduler", "StepLR", "ExponentialLR", "CosineAnnealingLR"]


class LRScheduler:
    """Base class: ``lr_at(base_lr, epoch)`` gives the learning rate of a group at an epoch."""

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__} needs a glassgrad Optimizer, not a {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs: list[float] = [float(group["initial_lr"]) for group in optimizer.param_groups]
        self.last_epoch = -1
        self._last_lr: list[float] = []
        self.step()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """The learning rate at ``epoch`` for a group whose initial rate is ``base_lr``."""
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        """The learning rate of each group at epoch ``last_epoch``."""
        return [self.lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]

    def step(self) -> None:
        """Advance one epoch and set each group's ``lr``."""
        self.last_epoch += 1
        self._apply(self.get_lr())

    def _apply(self, lrs: list[float]) -> None:
        groups = self.optimizer.param_groups
        if len(lrs) != len(groups):
            raise ValueError(f"{type(self).__name__}: {len(lrs)} learning rate(s) for {len(groups)} parameter "
                             "group(s); groups were added after the scheduler was built?")
        for group, lr in zip(groups, lrs):
            group["lr"] = lr
        self._last_lr = list(lrs)

    def get_last_lr(self) -> list[float]:
        """The learning rates set by the last ``step()`` (one per parameter group)."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Every attribute but the optimiser: numbers and lists of numbers only."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore a ``state_dict()`` and set the groups' learning rates to its last ones."""
        name = type(self).__name__
        unknown = set(state_dict) - set(self.__dict__) - {"optimizer"}
        if unknown:
            raise ValueError(f"{name}.load_state_dict: unexpected keys {sorted(unknown)} (a state dict of "
                             "another kind of scheduler?)")
        n = len(self.optimizer.param_groups)
        for key in ("base_lrs", "_last_lr"):
            if key in state_dict and len(state_dict[key]) != n:
                raise ValueError(f"{name}.load_state_dict: {key} has {len(state_dict[key])} entries but the "
                                 f"optimiser has {n} parameter group(s)")
        for k, v in state_dict.items():
            if k == "optimizer":
                continue
            self.__dict__[k] = [float(x) for x in v] if isinstance(v, (list, tuple)) else v
        self.last_epoch = int(self.last_epoch)
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs):
            group["initial_lr"] = base_lr
        if self._last_lr:
            self._apply(self._last_lr)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.state_dict().items() if not k.startswith("_")
                         and k != "base_lrs")
        return f"{type(self).__name__}({args})"


class StepLR(LRScheduler):
    """Decay by ``gamma`` every ``step_size`` epochs: lr = lr₀ · γ^⌊epoch / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = check_int("StepLR step_size", step_size)
        check_number("StepLR gamma", gamma)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """lr₀ · γ^⌊epoch / step_size⌋."""
        return base_lr * self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """Decay by ``gamma`` every epoch: lr = lr₀ · γ^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float):
        check_number("ExponentialLR gamma", gamma)
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """lr₀ · γ^epoch."""
        return base_lr * self.gamma ** epoch


class CosineAnnealingLR(LRScheduler):
    """Cosine from lr₀ down to ``eta_min`` over ``T_max`` epochs (then back up, with period 2·T_max):
    lr = η_min + (lr₀ − η_min) · (1 + cos(π · epoch / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        self.T_max = check_int("CosineAnnealingLR T_max", T_max)
        check_number("CosineAnnealingLR eta_min", eta_min)
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        """η_min + (lr₀ − η_min) · (1 + cos(π · epoch / T_max)) / 2."""
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2
