"""Models, losses and optimisers by name: what the command line builds and a checkpoint records.

A model *spec* is a small JSON-able dict (``{"kind": "mlp", "sizes": [64, 64, 10], ...}``); it is saved in
the checkpoint's metadata so ``glassgrad evaluate`` can rebuild the network before loading its weights.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from glassgrad import nn
from glassgrad.nn import functional as F
from glassgrad.ops import one_hot

if TYPE_CHECKING:      # for annotations only (optim loads when an optimizer is asked for)
    from glassgrad.optim import Optimizer, ParamsT

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU,
               "elu": nn.ELU, "softplus": nn.Softplus, "identity": nn.Identity}
LOSSES = ("cross_entropy", "quadratic", "mse")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop")


def _choice(kind: str, name: str, allowed) -> str:
    if name not in allowed:
        raise ValueError(f"unknown {kind} {name!r}; choose from {', '.join(allowed)}")
    return name


def mlp(sizes: list[int], activation: str = "relu", output_activation: str | None = None,
        weight_init: str = "default") -> nn.Sequential:
    """A fully connected network [n_0, n_1, …, n_L]: Linear layers with ``activation`` between them."""
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {sizes}")
    act = ACTIVATIONS[_choice("activation", activation, ACTIVATIONS)]
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out, weight_init=weight_init))
        if i < len(sizes) - 2:
            layers.append(act())
    if output_activation:
        layers.append(ACTIVATIONS[_choice("output activation", output_activation, ACTIVATIONS)]())
    return nn.Sequential(*layers)


MAX_LAYERS = 1000


def check_spec(spec: Any) -> dict:
    """The model spec, checked (kind, sizes, names); a ``ValueError`` naming the key otherwise."""
    from glassgrad.nn.init import WEIGHT_INITS

    if not isinstance(spec, dict):
        raise ValueError(f"the model spec must be a dict like {{'kind': 'mlp', 'sizes': [64, 32, 10]}}, not a "
                         f"{type(spec).__name__}")
    if spec.get("kind") != "mlp":
        raise ValueError(f"unknown model kind {spec.get('kind')!r} in the model spec; known: mlp")
    unknown = sorted(set(spec) - {"kind", "sizes", "activation", "output_activation", "weight_init"})
    if unknown:
        raise ValueError(f"the model spec has unknown keys {unknown}")
    sizes = spec.get("sizes")
    if (not isinstance(sizes, list) or not 2 <= len(sizes) <= MAX_LAYERS
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes)):
        raise ValueError(f"the model spec's 'sizes' must be a list of 2 to {MAX_LAYERS} whole numbers >= 1, not "
                         f"{sizes!r}"[:300])
    for key, allowed, optional in (("activation", ACTIVATIONS, False), ("output_activation", ACTIVATIONS, True),
                                   ("weight_init", WEIGHT_INITS, False)):
        value = spec.get(key)
        if key in spec and not (value is None and optional) and not (isinstance(value, str) and value in allowed):
            raise ValueError(f"the model spec's {key!r} is {value!r}; choose from {', '.join(sorted(allowed))}")
    return spec


def spec_num_parameters(spec: dict) -> int:
    """How many numbers the model of a (checked) spec holds, computed without building it."""
    sizes = spec["sizes"]
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def build_model(spec: dict) -> nn.Module:
    """The model a spec describes (weights freshly initialised; load a state dict for trained ones)."""
    check_spec(spec)
    return mlp(spec["sizes"], spec.get("activation", "relu"), spec.get("output_activation"),
               spec.get("weight_init", "default"))


def loss_by_name(name: str, num_classes: int | None) -> Callable:
    """loss(output, target) for integer labels (one-hot encoded where the loss compares vectors)."""
    _choice("loss", name, LOSSES)
    if name == "cross_entropy":
        return F.cross_entropy
    base = F.quadratic_cost if name == "quadratic" else F.mse_loss

    def vector_loss(out, y):
        if num_classes and y.dtype.kind in "iu":
            y = one_hot(y, num_classes, dtype=out.dtype)
        return base(out, y)

    return vector_loss


def optimizer_by_name(name: str, params: ParamsT, lr: float, momentum: float = 0.9,
                      weight_decay: float = 0.0) -> Optimizer:
    """The optimizer named by ``name`` over ``params``: one of ``OPTIMIZERS`` (sgd, momentum, nesterov, adam,
    adamw, rmsprop)."""
    from glassgrad import optim

    _choice("optimizer", name, OPTIMIZERS)
    if name in ("sgd", "momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=0.0 if name == "sgd" else momentum,
                         nesterov=name == "nesterov", weight_decay=weight_decay)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}[name]
    return cls(params, lr=lr, weight_decay=weight_decay)
