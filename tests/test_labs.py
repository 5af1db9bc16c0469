"""The cost lab (exact pass and gate counts, their fitted slopes; times not tested) and the linearisation probe."""
from __future__ import annotations

import numpy as np
import pytest

from glassgrad.cli import main
from glassgrad.explain.labs import cost_sweep, fitted_slope, probe


def test_fitted_slope():
    assert fitted_slope([1, 10, 100], [3, 30, 300]) == pytest.approx(1.0)
    assert fitted_slope([1, 10, 100], [2, 2, 2]) == 0.0
    assert fitted_slope([1e-3, 1e-2], [1e-6, 1e-4]) == pytest.approx(2.0)


def test_cost_sweep_counts_and_slopes():
    sweep = cost_sweep(hidden=(2, 4, 8, 16), batch=4)
    P = [r.parameters for r in sweep.rows]
    assert P == [4 * h + h + h * 3 + 3 for h in (2, 4, 8, 16)]
    gates = sweep.rows[0].backprop_gates
    assert gates == 7          # linear, sigmoid, linear, and the quadratic cost's sub, pow, sum, mul
    for r in sweep.rows:
        assert r.numerical_forward_passes == 2 * r.parameters
        assert r.backprop_forward_passes == 1 and r.backprop_backward_passes == 1
        assert r.backprop_gates == gates
        assert r.numerical_gates == 2 * r.parameters * gates
    assert sweep.slopes["numerical passes"] == pytest.approx(1.0, abs=1e-9)
    assert sweep.slopes["numerical gates"] == pytest.approx(1.0, abs=1e-9)
    assert sweep.slopes["backprop passes"] == 0.0 and sweep.slopes["backprop gates"] == 0.0
    text = str(sweep)
    assert "forward passes 1.000" in text and "passes 0.000, gates recorded 0.000" in text
    with pytest.raises(ValueError, match="at least two"):
        cost_sweep(hidden=(4,))


def test_cost_sweep_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = cost_sweep(hidden=(2, 4), batch=2).plot(tmp_path / "sweep.png")
    assert path.is_file() and path.stat().st_size > 10_000


def test_probe_residual_is_second_order_and_best_eps_in_between():
    p = probe("W2[1,2]")
    assert p.residual_slope == pytest.approx(2.0, abs=0.05)
    assert p.truncation_slope == pytest.approx(2.0, abs=0.1)
    assert 1e-9 <= p.best_eps <= 1e-3
    assert p.fd_error.min() < 1e-8 and p.fd_error[0] > 100 * p.fd_error.min()   # round-off at ε = 1e-13
    np.testing.assert_allclose(p.predicted, p.gradient * p.steps)
    np.testing.assert_allclose(p.actual[:5], p.predicted[:5], rtol=1e-4)
    assert "← best ε" in str(p) and "fitted residual slope" in str(p)
    b = probe("b1[3]", sizes=(3, 4, 2), activation="tanh", seed=2)
    assert b.param == "b1[3]" and b.residual_slope == pytest.approx(2.0, abs=0.1)


def test_probe_gradient_is_backprops_and_centred_differences():
    p = probe("W1[2,1]", sizes=(2, 3, 2), seed=1)
    i = int(np.argmin(np.abs(p.eps - 1e-6)))
    assert abs(p.fd_error[i]) < 1e-8 * max(1.0, abs(p.gradient))


def test_probe_names_are_one_based_and_checked():
    assert probe("W2[2,3]", sizes=(2, 3, 2)).param == "W2[2,3]"
    for bad, message in [("W3[1,1]", "weight layers 1 … 2"), ("W2[3,1]", "units 1 … 2"),
                         ("W1[1,0]", "units 1 … 2"), ("x[1]", "--param 'x\\[1\\]'")]:
        with pytest.raises(ValueError, match=message):
            probe(bad, sizes=(2, 3, 2))


def test_cli_labs(tmp_path, capsys):
    assert main(["explain", "probe", "--param", "W2[1,2]"]) == 0
    assert "fitted residual slope" in capsys.readouterr().out
    assert main(["explain", "probe", "--param", "W9[1,1]"]) == 2
    err = capsys.readouterr().err
    assert "weight layers 1 … 2" in err and "Traceback" not in err
    assert main(["explain", "gradcheck", "--sweep"]) == 0
    assert "Fitted slopes" in capsys.readouterr().out
