"""Gradient health: how fast each layer learns, and why it might not (docs/backprop.md#training).

For every Linear layer l — named as the notes count, hidden layer 1 … L−1 and the output layer (``position``),
with its module path (``name``, as in ``model.named_modules()``) kept as the key — one *snapshot* records

* ``‖∂C/∂W^l‖`` and ``‖δ^l‖ = ‖∂C/∂b^l‖`` — the bias gradient is δ^l summed over the batch (BP3), so its
  norm is the notes' "speed of learning" of the layer;
* ``‖Δw‖/‖w‖`` — how much one optimiser step changed the weights (during training);
* the fraction of *saturated* sigmoid/tanh outputs (σ < 0.01 or σ > 0.99; |tanh| > 0.99), where
  f'(z) ≈ 0 and δ is multiplied by almost nothing on its way back (BP2);
* the fraction of *dead* ReLUs: units that output 0 for every example of the batch, so no gradient
  reaches their weights.

``GradientHealth`` is a ``fit`` callback that takes a snapshot every N steps; ``health_report`` takes one
for a single batch without training. ``diagnose`` turns a snapshot into plain-language findings
(vanishing, exploding, saturated, dead units) that name the layer and give the numbers behind them.

The values are captured by wrapping the ``forward`` of each Linear layer and of the activation after it
(an instance attribute, removed afterwards): the model's classes are not changed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from glassgrad import engine
from glassgrad._backend import ndarray, xp
from glassgrad.device import to_host
from glassgrad.explain.export import Table, check_format
from glassgrad.explain.notation import layer_label
from glassgrad.tensor import Tensor, TensorLike, as_tensor
from glassgrad.train.callbacks import Callback

if TYPE_CHECKING:
    from glassgrad.nn.layers import Linear
    from glassgrad.nn.module import Module
    from glassgrad.train.fit import TrainingState

# Thresholds of the diagnosis (documented in its messages).
SIGMOID_SATURATED = 0.01      # σ < 0.01 or σ > 0.99: σ' < 0.0099
TANH_SATURATED = 0.99         # |tanh z| > 0.99: tanh' < 0.02
SPEED_RATIO = 100.0           # two orders of magnitude between the only hidden layer and the output layer
HIDDEN_SPEED_RATIO = 10.0     # first vs last hidden layer: Nielsen's 3- and 4-hidden-layer nets show 24× and ~100×
HUGE_GRADIENT = 1e3           # a gradient norm this large is exploding whatever the other layers do
SATURATED_FRACTION = 0.5      # half of a layer's outputs saturated
DEAD_FRACTION = 0.2           # a fifth of a layer's ReLUs dead
HUGE_LOGITS = 30.0            # mean |z^L| above this: softmax probabilities are 0 or 1 to float precision

ACTIVATIONS = ("Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softplus", "Identity", "Softmax", "LogSoftmax",
               "Activation")


# --------------------------------------------------------------------------------------------------
# Finding the layers and capturing z^l and a^l
# --------------------------------------------------------------------------------------------------
@dataclass
class _Layer:
    name: str
    linear: Linear
    activation: Module | None    # the activation module after the Linear layer, if any
    position: str = ""            # Nielsen's words: "hidden layer 1" … "output layer"


def linear_layers(model: Module) -> list[_Layer]:
    """Each Linear layer with the first activation module after it (before the next Linear), in the order
    ``named_modules`` lists them — the forward order for ``Sequential`` and for models that set their layers
    in the order they use them."""
    from glassgrad.nn.layers import Linear

    layers: list[_Layer] = []
    for name, m in model.named_modules():
        if isinstance(m, Linear):
            layers.append(_Layer(name or "(model)", m, None))
        elif layers and layers[-1].activation is None and type(m).__name__ in ACTIVATIONS:
            layers[-1].activation = m
    for ell, layer in enumerate(layers, start=1):
        layer.position = layer_label(ell, len(layers))
    return layers


class _Probe:
    """Wraps ``forward`` of the layers so that, while armed, it keeps z^l (asking for its gradient) and a^l."""

    def __init__(self, layers: list[_Layer], training_only: bool):
        self.layers, self.training_only = layers, training_only
        self.armed = False
        self.z: dict[str, Tensor] = {}
        self.a: dict[str, ndarray] = {}

    def install(self) -> "_Probe":
        for layer in self.layers:
            self._wrap(layer.linear, layer.name, keep_tensor=True)
            if layer.activation is not None:
                self._wrap(layer.activation, layer.name, keep_tensor=False)
        return self

    def _wrap(self, module, name: str, keep_tensor: bool) -> None:
        inner = type(module).forward.__get__(module)   # the class's forward, even if wrapped before

        def forward(*args, **kwargs):
            out = inner(*args, **kwargs)
            if self.armed and (module.training or not self.training_only) and isinstance(out, Tensor):
                if keep_tensor:
                    out.retain_grad()       # z.grad = ∂C/∂z^l after backward: δ^l for each example
                    self.z[name] = out
                else:
                    self.a[name] = out.data
            return out

        module.forward = forward

    def remove(self) -> None:
        for layer in self.layers:
            for m in (layer.linear, layer.activation):
                if m is not None and "forward" in vars(m):
                    del m.forward
        self.clear()

    def clear(self) -> None:
        self.z.clear()
        self.a.clear()


# --------------------------------------------------------------------------------------------------
# One snapshot
# --------------------------------------------------------------------------------------------------
@dataclass
class LayerHealth:
    """The health of one Linear layer at one step (norms are Euclidean / Frobenius)."""

    name: str
    fan_in: int
    fan_out: int
    activation: str | None          # "Sigmoid", "ReLU", … or None (the layer's z is the output, e.g. logits)
    grad_w: float                   # ‖∂C/∂W^l‖
    grad_b: float | None            # ‖∂C/∂b^l‖ (None without a bias)
    delta: float                    # ‖δ^l‖ = ‖Σ_x δ^l_x‖ = ‖∂C/∂b^l‖: the layer's speed of learning
    weight_norm: float              # ‖W^l‖
    update_ratio: float | None      # ‖ΔW^l‖ / ‖W^l‖ for the step (None outside training)
    saturated: float | None         # fraction of saturated sigmoid/tanh outputs
    dead: float | None              # fraction of ReLUs that output 0 for the whole batch
    mean_abs_z: float               # mean |z^l|: how far into the tails the weighted inputs sit
    values: ndarray | None = field(default=None, repr=False)   # a sample of a^l (or z^l), for histograms
    position: str = ""              # "hidden layer 1" … "output layer" (1-based, as the notes count)

    @property
    def speed(self) -> float:
        """The layer's speed of learning, ‖δ^l‖ (= ``delta``)."""
        return self.delta

    @property
    def title(self) -> str:
        """The layer as people read it: its position, or its module name when that is unknown."""
        return self.position or f"layer {self.name}"

    @property
    def label(self) -> str:
        """The layer's title with its sizes and activation."""
        act = f", {self.activation.lower()}" if self.activation else ""
        return f"{self.title} ({self.fan_in}→{self.fan_out}{act})"


@dataclass
class HealthSnapshot:
    """Every Linear layer's health at one step; ``str()`` is the table, ``diagnose()`` the findings."""

    step: int
    loss: float
    batch_size: int
    layers: list[LayerHealth]

    def __str__(self) -> str:
        return self.table()

    def table(self, fmt: str = "text") -> str:
        """The per-layer table as "text", "markdown" or "latex", with the step it was taken at."""
        footer = f"(step {self.step}, batch of {self.batch_size}, C = {self.loss:.6g})"
        return format_health_table(self.layers, fmt) + "\n\n"[: 1 if fmt == "text" else 2] + footer

    def diagnose(self) -> list["Finding"]:
        """The findings for this snapshot (``diagnose``)."""
        return diagnose(self.layers, self.batch_size)


def _norm(a) -> float:
    return float(xp.sqrt(xp.sum(xp.square(xp.asarray(a, dtype=xp.float64))))) if a is not None else math.nan


def _saturated_fraction(kind: str | None, a: ndarray | None) -> float | None:
    if a is None or kind not in ("Sigmoid", "Tanh"):
        return None
    if kind == "Sigmoid":
        return float(xp.mean((a < SIGMOID_SATURATED) | (a > 1 - SIGMOID_SATURATED)))
    return float(xp.mean(xp.abs(a) > TANH_SATURATED))


def _dead_fraction(kind: str | None, a: ndarray | None) -> float | None:
    """Units (columns) whose ReLU output is 0 for every example of the batch."""
    if a is None or kind != "ReLU" or a.size == 0:
        return None
    return float(xp.mean(xp.all(a.reshape(len(a), -1) == 0, axis=0)))


def _sample(values: ndarray, n: int) -> ndarray:
    flat = xp.asarray(values, dtype=xp.float32).reshape(-1)
    if flat.size <= n:
        return flat.copy()
    return flat[xp.random.default_rng(0).choice(flat.size, size=n, replace=False)]


def _host(a: Tensor | ndarray | None) -> ndarray | None:
    """A tensor's or array's values in host memory; None stays None (a layer without that gradient)."""
    return None if a is None else to_host(a)


def _layer_health(layer: _Layer, z: Tensor | None, a: ndarray | None, before: ndarray | None,
                  sample: int) -> LayerHealth:
    """One layer's numbers, computed on the host (a GPU model's arrays are copied over: a snapshot is taken
    every few steps, and it is printed and drawn)."""
    lin = layer.linear
    a, before = _host(a), _host(before)
    z_values = _host(z)
    kind = type(layer.activation).__name__ if layer.activation is not None else None
    if kind == "Identity":
        kind = None
    w_grad = _host(lin.weight.grad)
    b_grad = _host(lin.bias.grad if lin.bias is not None else None)
    if z is not None and z.grad is not None:   # ∂C/∂b = Σ_x δ_x, also for a layer without bias
        z_grad = to_host(z.grad)
        delta = _norm(z_grad.reshape(-1, z_grad.shape[-1]).sum(axis=0))
    else:
        delta = _norm(b_grad)
    w = to_host(lin.weight.data)
    ratio = None if before is None else _norm(w - before) / max(_norm(before), 1e-300)
    out = a if a is not None else z_values
    return LayerHealth(
        name=layer.name, fan_in=int(w.shape[1]), fan_out=int(w.shape[0]), activation=kind,
        grad_w=_norm(w_grad), grad_b=None if lin.bias is None else _norm(b_grad), delta=delta,
        weight_norm=_norm(w), update_ratio=ratio, saturated=_saturated_fraction(kind, a),
        dead=_dead_fraction(kind, a), mean_abs_z=float(xp.mean(xp.abs(z_values))) if z_values is not None else math.nan,
        values=None if out is None else _sample(out, sample), position=layer.position)


def _snapshot(layers: list[_Layer], probe: _Probe, step: int, loss: float, batch_size: int,
              before: dict | None, sample: int) -> HealthSnapshot:
    rows = [_layer_health(layer, probe.z.get(layer.name), probe.a.get(layer.name), (before or {}).get(layer.name),
                          sample)
            for layer in layers]
    return HealthSnapshot(step, loss, batch_size, rows)


# --------------------------------------------------------------------------------------------------
# The table
# --------------------------------------------------------------------------------------------------
def _fmt(v, pct: bool = False) -> str:
    if v is None:
        return "—"
    if pct:
        return f"{100 * v:.0f}%"
    return f"{v:.2e}" if math.isfinite(v) else str(v)


def health_table(layers: list[LayerHealth]) -> Table:
    """The per-layer health table: layers by position (1-based) and weight matrix W^l, module path last."""
    head = ("layer", "W", "size", "f", "‖∂C/∂W‖", "‖δ‖=‖∂C/∂b‖", "‖ΔW‖/‖W‖", "mean|z|", "saturated", "dead",
            "module")
    rows = [(layer.title, f"W^{i}", f"{layer.fan_in}→{layer.fan_out}", (layer.activation or "—").lower(),
             _fmt(layer.grad_w), _fmt(layer.delta), _fmt(layer.update_ratio), f"{layer.mean_abs_z:.3g}",
             _fmt(layer.saturated, True), _fmt(layer.dead, True), layer.name)
            for i, layer in enumerate(layers, start=1)]
    return Table(head, rows, align_right=range(4, 10))


def format_health_table(layers: list[LayerHealth], fmt: str = "text") -> str:
    return health_table(layers).render(check_format(fmt))


# --------------------------------------------------------------------------------------------------
# The diagnosis
# --------------------------------------------------------------------------------------------------
@dataclass
class Finding:
    """One plain-language finding; ``numbers`` holds the values behind it."""

    kind: str                 # "vanishing", "exploding", "saturated", "dead", "ok"
    layer: str | None
    message: str
    numbers: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.message


def diagnose(layers: list[LayerHealth], batch_size: int | None = None) -> list[Finding]:
    """Plain-language findings for one snapshot, each naming its layer; one "ok" finding if none apply."""
    findings = _nonfinite(layers) or _speed_findings(layers)
    findings += _saturation_findings(layers) + _dead_findings(layers, batch_size)
    if not findings:
        speeds = ", ".join(f"{layer.title}: {layer.delta:.2e}" for layer in layers)
        within = (f"the hidden layers' speeds of learning ‖∂C/∂b‖ are within {HIDDEN_SPEED_RATIO:.0f}× of each other"
                  if len(layers) > 2 else
                  f"the speeds of learning ‖∂C/∂b‖ are within {SPEED_RATIO:.0f}× of each other")
        findings.append(Finding("ok", None, f"no problems found: {within} ({speeds}), no saturated outputs and no "
                                "dead units." + _trend(layers), {"speeds": [layer.delta for layer in layers]}))
    return findings


def _trend(layers: list[LayerHealth]) -> str:
    """The notes' observation in a [784, 30, 30, 10] network: even when nothing is wrong yet, each hidden
    layer learns several times more slowly than the one after it."""
    hidden = layers[:-1]
    speeds = [ell.delta for ell in hidden]
    if len(hidden) < 2 or not all(a < b for a, b in zip(speeds, speeds[1:])) or speeds[-1] < 2 * speeds[0]:
        return ""
    return (f" Note: {hidden[0].title} learns {speeds[-1] / speeds[0]:.1f}× more slowly than "
            f"the last hidden layer, {hidden[-1].title} — the start of the vanishing-gradient trend, not yet a "
            "problem.")


def _nonfinite(layers: list[LayerHealth]) -> list[Finding]:
    bad = [layer for layer in layers if not (math.isfinite(layer.grad_w) and math.isfinite(layer.delta))]
    if not bad:
        return []
    first = bad[0]
    return [Finding("exploding", first.name,
                    f"exploding gradients: the gradient of {first.title} is not finite "
                    f"(‖∂C/∂W‖ = {first.grad_w}, ‖∂C/∂b‖ = {first.delta}); layers affected: "
                    f"{', '.join(ell.title for ell in bad)}. Lower the learning rate, clip the gradients, or start "
                    "from smaller weights.", {"layers": [ell.name for ell in bad]})]


def _reference(layers: list[LayerHealth]) -> tuple[LayerHealth | None, list[LayerHealth]]:
    """The layer the others are compared with, and those others. As Nielsen does, the hidden layers are
    compared with the last hidden layer; with a single hidden layer, it is compared with the output layer."""
    hidden = layers[:-1]
    if len(hidden) >= 2:
        return hidden[-1], hidden[:-1]
    return (layers[-1], hidden) if layers else (None, [])


def _speed_findings(layers: list[LayerHealth]) -> list[Finding]:
    """Compare the earlier hidden layers' speeds ‖∂C/∂b^l‖ with the last hidden layer's (BP2 multiplies δ by
    Wᵀ and f'(z) once per layer on the way back, so a trend with depth is exponential)."""
    findings = []
    huge = [layer for layer in layers if max(layer.grad_w, layer.delta) > HUGE_GRADIENT]
    ref, others = _reference(layers)
    if ref is not None and others and ref.delta > 0:
        ratio = SPEED_RATIO if ref is layers[-1] else HIDDEN_SPEED_RATIO
        # A layer whose units are dead gets no gradient for that reason: the dead-units finding says so.
        slow = [layer for layer in others if layer.delta < ref.delta / ratio and not _mostly_dead(layer)]
        fast = [layer for layer in others if layer.delta > ref.delta * ratio]
        if slow:
            findings.append(_vanishing(slow, ref, layers[-1]))
        if fast:
            findings.append(_exploding(fast, ref, layers[-1]))
    if huge and not any(f.kind == "exploding" for f in findings):
        ell = max(huge, key=lambda h: max(h.grad_w, h.delta))
        findings.append(Finding("exploding", ell.name,
                                f"exploding gradients: {ell.title} has a very large gradient (‖∂C/∂W‖ = "
                                f"{ell.grad_w:.3g}, ‖∂C/∂b‖ = {ell.delta:.3g}, above {HUGE_GRADIENT:g}). Clip the "
                                "gradients, lower the learning rate, or start from smaller weights.",
                                {"grad_w": ell.grad_w, "delta": ell.delta}))
    return findings


def _mostly_dead(ell: LayerHealth) -> bool:
    return ell.dead is not None and ell.dead >= DEAD_FRACTION


def _times(ratio: float) -> str:
    return f"{ratio:,.0f}×" if ratio < 1e6 else f"{ratio:.1e}×"


def _compared_with(ref: LayerHealth, output: LayerHealth) -> str:
    if ref is output:
        return f"the {output.title}"
    return f"the last hidden layer, {ref.title}"


def _output_aside(ref: LayerHealth, output: LayerHealth) -> str:
    return "" if ref is output else f"; {output.title}: {output.delta:.2e}"


def _vanishing(slow: list[LayerHealth], ref: LayerHealth, output: LayerHealth) -> Finding:
    first = slow[0]
    ratio = ref.delta / first.delta if first.delta > 0 else math.inf
    how = (f"learns {_times(ratio)} more slowly than" if first.delta > 0
           else "gets no gradient at all, unlike")
    others = "" if len(slow) == 1 else f" (also slow: {', '.join(ell.title for ell in slow[1:])})"
    return Finding(
        "vanishing", first.name,
        f"vanishing gradients: {first.title} {how} {_compared_with(ref, output)} "
        f"(‖∂C/∂b‖ = {first.delta:.2e} vs {ref.delta:.2e}{_output_aside(ref, output)}){others}. On the way back "
        "δ is multiplied by Wᵀ and f'(z) at every layer (σ' ≤ 1/4 for sigmoid), so early layers hardly change. "
        "Remedies: ReLU, "
        "careful initialisation (glorot for sigmoid/tanh, he for ReLU), batch normalisation, fewer layers.",
        {"layer": first.name, "speed": first.delta, "last_layer": ref.name, "last_speed": ref.delta,
         "output_speed": output.delta, "ratio": ratio, "slow_layers": [ell.name for ell in slow]})


def _exploding(fast: list[LayerHealth], ref: LayerHealth, output: LayerHealth) -> Finding:
    first = fast[0]
    ratio = first.delta / ref.delta
    return Finding(
        "exploding", first.name,
        f"exploding gradients: {first.title} gets a gradient {_times(ratio)} larger than "
        f"{_compared_with(ref, output)} (‖∂C/∂b‖ = {first.delta:.2e} vs {ref.delta:.2e}"
        f"{_output_aside(ref, output)}): the gradient grows as it goes back through the layers (each multiplies "
        "δ by a large Wᵀ). Remedies: smaller initial weights (glorot / he), gradient clipping, a lower learning "
        "rate, batch normalisation.",
        {"layer": first.name, "speed": first.delta, "last_layer": ref.name, "last_speed": ref.delta,
         "output_speed": output.delta, "ratio": ratio, "fast_layers": [ell.name for ell in fast]})


def _saturation_findings(layers: list[LayerHealth]) -> list[Finding]:
    findings = []
    for i, ell in enumerate(layers):
        output = i == len(layers) - 1
        if ell.saturated is not None and ell.saturated >= SATURATED_FRACTION:
            band = ("below 0.01 or above 0.99, where σ' < 0.01" if ell.activation == "Sigmoid"
                    else "beyond ±0.99, where tanh' < 0.02")
            cure = ("use cross-entropy, which removes the f'(z^L) factor from δ^L, or smaller weights"
                    if output else "use smaller initial weights (glorot), normalised inputs or ReLU")
            assert ell.activation is not None, "saturation is measured for sigmoid and tanh layers only"
            findings.append(Finding(
                "saturated", ell.name,
                f"saturated {ell.title}: {100 * ell.saturated:.0f}% of its {ell.activation.lower()} outputs are "
                f"{band} (mean |z| = {ell.mean_abs_z:.3g}), so δ = … ⊙ f'(z) is tiny there and the weights into "
                f"it learn slowly; {cure}.", {"fraction": ell.saturated, "mean_abs_z": ell.mean_abs_z}))
        elif output and ell.activation is None and ell.mean_abs_z > HUGE_LOGITS:
            findings.append(Finding(
                "saturated", ell.name,
                f"saturated {ell.title}: its pre-activations are huge (mean |z| = {ell.mean_abs_z:.3g}), "
                "so a softmax or sigmoid on them gives probabilities of exactly 0 or 1; start from smaller "
                "weights or lower the learning rate.", {"mean_abs_z": ell.mean_abs_z}))
    return findings


def _dead_findings(layers: list[LayerHealth], batch_size: int | None) -> list[Finding]:
    findings = []
    batch = f" of a batch of {batch_size}" if batch_size else ""
    for ell in layers:
        if ell.dead is not None and ell.dead >= DEAD_FRACTION:
            n = round(ell.dead * ell.fan_out)
            findings.append(Finding(
                "dead", ell.name,
                f"dead units in {ell.title}: {n} of its {ell.fan_out} ReLUs ({100 * ell.dead:.0f}%) output 0 for "
                f"every example{batch}, so no gradient reaches their weights and they never recover; use "
                "a smaller learning rate, he initialisation, biases ≥ 0 or LeakyReLU.",
                {"fraction": ell.dead, "units": n}))
    return findings


# --------------------------------------------------------------------------------------------------
# One batch, no training
# --------------------------------------------------------------------------------------------------
def health_report(model: Module, loss_fn: Callable, x: TensorLike, y: TensorLike, sample: int = 2000,
                  step: int = 0) -> HealthSnapshot:
    """The health of every Linear layer of ``model`` on one batch (x, y), without training.

    Runs one forward and one backward pass; the model's ``.grad`` fields are left as they were. ``step``
    only labels the snapshot (e.g. how many training steps the model has had).
    """
    layers = linear_layers(model)
    if not layers:
        raise ValueError("health_report: the model has no Linear layers")
    probe = _Probe(layers, training_only=False).install()
    x, y = as_tensor(x), as_tensor(y)
    params = [p for _, p in model.named_parameters()]
    saved = [p.grad for p in params]
    try:
        probe.armed = True
        with engine.enable_grad():
            cost = loss_fn(model(x), y)
        probe.armed = False
        for p in params:
            p.grad = None
        cost.backward()
        return _snapshot(layers, probe, step, float(cost.item()), len(x), None, sample)
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        probe.remove()


# --------------------------------------------------------------------------------------------------
# The fit callback
# --------------------------------------------------------------------------------------------------
class GradientHealth(Callback):
    """Record every Linear layer's health every ``every`` steps of ``fit`` (steps 1, every + 1, …).

        health = GradientHealth(every=10)
        fit(model, loss, opt, data, epochs=5, callbacks=[health])
        health.series("delta")     # {"0": [...], "2": [...]} per layer over health.steps
        print(health.table()); print("\\n".join(map(str, health.diagnose())))
    """

    METRICS = ("grad_w", "grad_b", "delta", "update_ratio", "saturated", "dead", "mean_abs_z", "weight_norm")

    def __init__(self, every: int = 10, sample: int = 1000):
        if every < 1:
            raise ValueError(f"GradientHealth: every must be at least 1, not {every}")
        self.every, self.sample = every, sample
        self.snapshots: list[HealthSnapshot] = []
        self.layers: list[_Layer] = []
        self._probe: _Probe | None = None
        self._before: dict | None = None
        self._count = 0

    # ---- fit's hooks ------------------------------------------------------------------------------
    def on_train_begin(self, state: TrainingState) -> None:
        """Find the Linear layers and install the probe."""
        self.remove()
        self.layers = linear_layers(state.model)
        if not self.layers:      # nothing to watch (no Linear layers): record nothing, never get in the way
            return
        self._probe = _Probe(self.layers, training_only=True).install()
        self._arm_if_due()

    def on_batch_end(self, state: TrainingState, logs: dict) -> None:
        """Record a snapshot after every ``every``-th step."""
        self._count += 1
        if self._probe is not None and self._probe.armed:
            self._probe.armed = False
            batch = next(iter(self._probe.z.values())).shape[0] if self._probe.z else 0
            self.snapshots.append(_snapshot(self.layers, self._probe, self._count, float(logs.get("loss", math.nan)),
                                            batch, self._before, self.sample))
            self._probe.clear()
        self._arm_if_due()

    def on_train_end(self, state: TrainingState) -> None:
        """Remove the probe."""
        self.remove()

    def _arm_if_due(self) -> None:
        """Arm the probe for the next step if it is recorded, and keep W before that step for ‖ΔW‖."""
        if self._probe is None or self._count % self.every:
            return
        self._probe.armed = True
        self._before = {layer.name: layer.linear.weight.data.copy() for layer in self.layers}

    def remove(self) -> None:
        """Unwrap the layers (done at the end of training)."""
        if self._probe is not None:
            self._probe.remove()
            self._probe = None

    # ---- reading the record -------------------------------------------------------------------------
    @property
    def steps(self) -> list[int]:
        """The steps at which snapshots were taken."""
        return [s.step for s in self.snapshots]

    @property
    def layer_names(self) -> list[str]:
        """The watched layers' module names."""
        layers = self.snapshots[0].layers if self.snapshots else self.layers
        return [layer.name for layer in layers]

    def series(self, metric: str = "delta") -> dict[str, list]:
        """``metric`` per layer over ``steps``: one of ``GradientHealth.METRICS``."""
        if metric not in self.METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(self.METRICS)}")
        return {name: [getattr(s.layers[i], metric) for s in self.snapshots]
                for i, name in enumerate(self.layer_names)}

    def latest(self) -> HealthSnapshot:
        """The most recent snapshot."""
        if not self.snapshots:
            raise ValueError("GradientHealth: nothing recorded yet (run fit with this callback)")
        return self.snapshots[-1]

    def table(self, which: int = -1) -> str:
        """The per-layer table of one snapshot (the latest by default)."""
        return self._at(which).table()

    def diagnose(self, which: int = -1) -> list[Finding]:
        """Findings for one snapshot (the latest by default; 0 for the first, at initialisation)."""
        return self._at(which).diagnose()

    def _at(self, which: int) -> HealthSnapshot:
        self.latest()
        return self.snapshots[which]
