"""Stochastic gradient descent, with momentum, dampening, Nesterov momentum and weight decay."""
from __future__ import annotations

from typing import Any, Mapping

from glassgrad.checks import check_number
from glassgrad.optim.optimizer import Optimizer, ParamsT, required, with_weight_decay

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Stochastic gradient descent (PyTorch's update rule, step for step).

    With learning rate η, momentum μ, dampening τ and weight decay λ, for each parameter w with gradient g::

        g ← g + λ w                       (if λ ≠ 0)
        v ← g                             (first step)
        v ← μ v + (1 − τ) g               (later steps; if μ ≠ 0)
        g ← g + μ v   if nesterov,  else  g ← v      (if μ ≠ 0)
        w ← w − η g

    State per parameter: ``momentum_buffer`` (v), only when μ ≠ 0.
    """

    def __init__(self, params: ParamsT, lr: float = required, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    _nonnegative = Optimizer._nonnegative + (("momentum", "momentum"),)

    def _validate(self, hyper: Mapping[str, Any]) -> None:
        super()._validate(hyper)
        if "dampening" in hyper:
            check_number("dampening", hyper["dampening"], low=float("-inf"))
        if hyper.get("nesterov") and (hyper.get("momentum", 0) <= 0 or hyper.get("dampening", 0) != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening = 0 (got momentum="
                             f"{hyper.get('momentum')}, dampening={hyper.get('dampening')})")

    def _hyper(self, group: Mapping[str, Any]) -> tuple:
        return (float(group["lr"]), float(group["momentum"]), float(group["dampening"]),
                float(group["weight_decay"]), bool(group["nesterov"]))

    def _folded(self, hyper: tuple) -> tuple[float, float] | None:
        """Without momentum, w ← w − η (g + λ w) = (1 − ηλ) w + (−η) g: ``(−η, 1 − ηλ)``."""
        lr, mu, _, wd, _ = hyper
        return None if mu != 0 else (-lr, 1.0 - lr * wd)

    def _update(self, p, w, g, hyper: tuple) -> None:
        lr, mu, damp, wd, nesterov = hyper
        own = False                      # may g be overwritten (a temporary of ours)?
        if wd != 0:
            g, own = with_weight_decay(w, g, wd), True
        if mu != 0:
            state = self._param_state(p)
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = g.copy()
            else:
                buf *= mu
                if damp == 0:
                    buf += g
                else:
                    buf += (1 - damp) * g
            if nesterov:
                u = buf * mu
                u += g
                g, own = u, True
            else:
                g, own = buf, False
        if own:
            g *= lr
            w -= g
        else:
            w -= lr * g
