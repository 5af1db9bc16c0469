"""Adam and AdamW (Adam with decoupled weight decay), with the AMSGrad variant."""
from __future__ import annotations

from typing import Any, Mapping

from glassgrad.checks import check_number
from glassgrad.device import array_module
from glassgrad.optim.optimizer import Optimizer, ParamsT, with_weight_decay

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), PyTorch's update rule step for step.

    With learning rate η, betas (β₁, β₂), ε and weight decay λ, at step t for each parameter w with
    gradient g::

        g ← g + λ w                                 (if λ ≠ 0; AdamW decays w instead, see below)
        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²
        v̂ ← max(v̂, v)   and use v̂ for v below      (if amsgrad)
        w ← w − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    State per parameter: ``step`` (t), ``exp_avg`` (m), ``exp_avg_sq`` (v), ``max_exp_avg_sq`` (v̂, amsgrad).
    """

    _decoupled = False
    _required_state = ("step", "exp_avg", "exp_avg_sq")
    _nonnegative = Optimizer._nonnegative + (("eps", "eps"),)

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False):
        super().__init__(params, dict(lr=lr, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad))

    def _validate(self, hyper: Mapping[str, Any]) -> None:
        super()._validate(hyper)
        if "betas" in hyper:
            betas = hyper["betas"]
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"betas must be a pair (beta1, beta2), not {betas!r}")
            check_number("beta1 (betas[0])", betas[0], 0.0, 1.0)
            check_number("beta2 (betas[1])", betas[1], 0.0, 1.0)

    def _hyper(self, group: Mapping[str, Any]) -> tuple:
        beta1, beta2 = (float(b) for b in group["betas"])
        return (float(group["lr"]), beta1, beta2, float(group["eps"]), float(group["weight_decay"]),
                bool(group["amsgrad"]))

    def _update(self, p, w, g, hyper: tuple) -> None:
        xp = array_module(w)             # NumPy or CuPy: the update runs on the parameter's device
        lr, beta1, beta2, eps, wd, amsgrad = hyper
        state = self._param_state(p, lambda: {"step": 0, "exp_avg": xp.zeros_like(w), "exp_avg_sq": xp.zeros_like(w)})
        state["step"] = t = state["step"] + 1
        if wd != 0:
            if self._decoupled:
                w *= 1 - lr * wd
            else:
                g = with_weight_decay(w, g, wd)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # m ← m + (1 − β₁)(g − m), PyTorch's lerp; tmp an array even for a 0-d parameter (g − m would be
        # a NumPy scalar, which the out= below cannot take)
        tmp = xp.subtract(g, m, out=xp.empty_like(m))
        tmp *= 1 - beta1
        m += tmp
        v *= beta2                       # v ← β₂ v + (1 − β₂) g²
        xp.multiply(g, g, out=tmp)
        tmp *= 1 - beta2
        v += tmp
        if amsgrad:
            vmax = self._zeros_buffer(state, "max_exp_avg_sq", w)
            xp.maximum(vmax, v, out=vmax)
            v = vmax
        step_size = lr / (1 - beta1 ** t)
        xp.sqrt(v, out=tmp)              # denominator: √v / √(1 − β₂ᵗ) + ε
        tmp /= (1 - beta2 ** t) ** 0.5
        tmp += eps
        xp.divide(m, tmp, out=tmp)
        tmp *= step_size
        w -= tmp


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's update rule step for step.

    As ``Adam``, except that the weight decay shrinks the weights directly instead of entering the
    gradient (and the moments)::

        w ← w (1 − η λ)
        m ← β₁ m + (1 − β₁) g ;  v ← β₂ v + (1 − β₂) g²    (v̂ ← max(v̂, v) if amsgrad)
        w ← w − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)
    """

    _decoupled = True

    def __init__(self, params: ParamsT, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
