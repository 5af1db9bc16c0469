"""Models, losses and optimisers by name: what the command line builds and a checkpoint records.

A model *spec* is a small JSON-able dict (``{"kind": "mlp", "sizes": [64, 64, 10], ...}``); it is saved in
the checkpoint's metadata so ``glassgrad evaluate`` can rebuild the network before loading its weights.
"""
from __future__ import annotations

from typing import Callable

from glassgrad import nn
from glassgrad.nn import functional as F
from glassgrad.ops import one_hot

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


def build_model(spec: dict) -> nn.Module:
    """The model a spec describes (weights freshly initialised; load a state dict for trained ones)."""
    kind = spec.get("kind")
    if kind == "mlp":
        return mlp(spec["sizes"], spec.get("activation", "relu"), spec.get("output_activation"),
                   spec.get("weight_init", "default"))
    raise ValueError(f"unknown model kind {kind!r} in the model spec; known: mlp")


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


def optimizer_by_name(name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    from glassgrad import optim

    _choice("optimizer", name, OPTIMIZERS)
    if name in ("sgd", "momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=0.0 if name == "sgd" else momentum,
                         nesterov=name == "nesterov", weight_decay=weight_decay)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "rmsprop": optim.RMSprop}[name]
    return cls(params, lr=lr, weight_decay=weight_decay)
