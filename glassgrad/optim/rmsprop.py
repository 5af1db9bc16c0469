"""RMSprop, optionally centered and with momentum."""
from __future__ import annotations

from typing import Any, Mapping

from glassgrad.device import array_module
from glassgrad.optim.optimizer import Optimizer, ParamsT, with_weight_decay

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    r"""RMSprop (Hinton), PyTorch's update rule step for step.

    With learning rate η, smoothing α, ε, weight decay λ and momentum μ, for each parameter w with
    gradient g::

        g ← g + λ w                                   (if λ ≠ 0)
        s ← α s + (1 − α) g²
        ḡ ← α ḡ + (1 − α) g ;  d ← √(s − ḡ²) + ε       (if centered)
        d ← √s + ε                                    (otherwise)
        b ← μ b + g / d ;  w ← w − η b                (if μ > 0)
        w ← w − η g / d                               (otherwise)

    State per parameter: ``step``, ``square_avg`` (s), ``momentum_buffer`` (b, if μ > 0),
    ``grad_avg`` (ḡ, if centered).
    """

    _required_state = ("step", "square_avg")
    _nonnegative = Optimizer._nonnegative + (("alpha", "alpha"), ("eps", "eps"), ("momentum", "momentum"))

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, momentum=momentum,
                                      centered=centered))

    def _hyper(self, group: Mapping[str, Any]) -> tuple:
        return (float(group["lr"]), float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]),
                float(group["momentum"]), bool(group["centered"]))

    def _update(self, p, w, g, hyper: tuple) -> None:
        xp = array_module(w)             # NumPy or CuPy: the update runs on the parameter's device
        lr, alpha, eps, wd, mu, centered = hyper
        state = self._param_state(p, lambda: {"step": 0, "square_avg": xp.zeros_like(w)})
        state["step"] += 1
        if wd != 0:
            g = with_weight_decay(w, g, wd)
        s = state["square_avg"]
        s *= alpha                       # s ← α s + (1 − α) g²
        tmp = xp.multiply(g, g, out=xp.empty_like(s))     # an array even for a 0-d parameter (the out= below)
        tmp *= 1 - alpha
        s += tmp
        if centered:
            ga = self._zeros_buffer(state, "grad_avg", w)
            xp.subtract(g, ga, out=tmp)  # ḡ ← ḡ + (1 − α)(g − ḡ), PyTorch's lerp
            tmp *= 1 - alpha
            ga += tmp
            xp.multiply(ga, ga, out=tmp)
            xp.subtract(s, tmp, out=tmp)
            xp.sqrt(tmp, out=tmp)
        else:
            xp.sqrt(s, out=tmp)
        tmp += eps
        xp.divide(g, tmp, out=tmp)       # g / d
        if mu > 0:
            buf = self._zeros_buffer(state, "momentum_buffer", w)
            buf *= mu
            buf += tmp
            xp.multiply(buf, lr, out=tmp)
        else:
            tmp *= lr
        w -= tmp
