"""The gradient-bug localiser names the wrong gate and the line of code that created it."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import hooks
from glassgrad.cli import main
from glassgrad.explain.model_check import check_model_gradients
from glassgrad.localize import localize
from glassgrad.nn import functional as F
from glassgrad.train.models import mlp


class Cube(gg.Function):
    """x³ with a planted bug: the backward forgets to square x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * x                  # wrong: ∂x³/∂x = 3x²


class Square(gg.Function):
    """x², correct."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x


def fifty_gates(x, w, b):
    """About fifty gates of many kinds (broadcasts, matmul, reductions, a correct custom gate), one of them
    the buggy Cube."""
    h = x
    for i in range(6):
        h = (h @ w + b).tanh() * 0.5 + h.sigmoid()
        if i == 3:
            h = Cube.apply(h)  # PLANTED
        if i == 1:
            h = Square.apply(h) - h.exp() * 0.1
    return (h * h).mean() + (h - 1.0).abs().sum() * 0.01


PLANTED_LINE = next(i for i, line in enumerate(inspect.getsource(fifty_gates).splitlines())
                    if "# PLANTED" in line) + fifty_gates.__code__.co_firstlineno


def _inputs():
    rng = np.random.default_rng(0)
    return [gg.tensor(rng.standard_normal((3, 4)), dtype=gg.float64, requires_grad=True),
            gg.tensor(rng.standard_normal((4, 4)) * 0.4, dtype=gg.float64, requires_grad=True),
            gg.tensor(rng.standard_normal(4) * 0.1, dtype=gg.float64, requires_grad=True)]


def test_planted_bug_among_fifty_gates_is_named_with_its_line():
    report = gg.gradcheck(fifty_gates, _inputs(), raise_exception=False, localize=True)
    assert not report
    loc = report.localization
    assert 45 <= len(loc.checks) <= 60
    assert [c.gate for c in loc.wrong] == ["Cube"]
    first = loc.first_wrong
    assert first.relative_error > 0.1 and not first.passed
    assert first.site.user.startswith(f"{__file__}:{PLANTED_LINE} in fifty_gates: h = Cube.apply(h)")
    text = str(report)
    assert "Cube (gate" in text and f"test_localize.py:{PLANTED_LINE}" in text
    assert all(c.relative_error < 1e-6 for c in loc.checks if c.gate != "Cube")
    # the wrong gate is reported whatever the order: gates after it in backward order are checked on their own
    assert loc.checks.index(first) == first.position - 1


def test_the_same_graph_without_the_bug_passes_every_gate(monkeypatch):
    monkeypatch.setattr(Cube, "backward", staticmethod(lambda ctx, g: g * 3 * ctx.saved_tensors[0] ** 2))
    assert gg.gradcheck(fifty_gates, _inputs()) is True
    tensors = _inputs()
    loc = localize(lambda: fifty_gates(*tensors))
    assert loc.first_wrong is None and loc.checks and "agree" in str(loc)
    assert hooks.active == ()


def test_gradcheck_raises_with_the_localisation_and_no_sites_unless_asked():
    with pytest.raises(gg.GradcheckError, match="Cube"):
        gg.gradcheck(fifty_gates, _inputs(), mode="fast", localize=True)
    with pytest.raises(gg.GradcheckError) as e:
        gg.gradcheck(fifty_gates, _inputs(), mode="fast")
    assert "localize" not in str(e.value)


def test_recording_stops_when_the_forward_raises():
    def broken():
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        localize(broken)
    assert hooks.active == ()


def test_check_model_gradients_localises_a_broken_activation():
    from glassgrad import nn
    sig = lambda z: 1 / (1 + np.exp(-z))   # noqa: E731   (backward σ instead of σ(1 − σ))
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.Activation(sig, sig, name="broken_sigmoid"), nn.Linear(5, 2))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
    result = check_model_gradients(model, F.cross_entropy, x, y, localize=True)
    assert not result
    assert result.localization.first_wrong.gate == "broken_sigmoid"
    assert "broken_sigmoid" in str(result)
    good = check_model_gradients(mlp([3, 5, 2], "sigmoid"), F.cross_entropy, x, y, localize=True)
    assert good and good.localization is None


def test_cli_gradcheck_localises_by_default(capsys):
    assert main(["explain", "gradcheck", "--broken", "--sizes", "3", "4", "2", "--batch", "4"]) == 1
    out = capsys.readouterr().out
    assert "localize: 1 of" in out and "broken_sigmoid (gate" in out and "glassgrad/nn/" in out
    assert main(["explain", "gradcheck", "--broken", "--sizes", "3", "4", "2", "--batch", "4", "--no-localize"]) == 1
    assert "localize" not in capsys.readouterr().out
