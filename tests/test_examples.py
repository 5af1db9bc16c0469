"""The notes' experiments in examples/ run, print their numbers, write their plot and show the notes' effect.

Each example's ``main([...])`` runs in-process with ``--quick`` and a tiny configuration into a temporary
directory. Examples that need ``../shared/data`` (resolved from the repository root) skip when it is absent.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib is not installed (pip install 'glassgrad[plot]')")
needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="scikit-learn (which ships the 8x8 digits) is not installed")
needs_lfd = pytest.mark.skipif(not (DATA / "features.train").is_file() or not (DATA / "features.test").is_file(),
                               reason=f"LFD digit features not found: {DATA}/features.train/.test are absent "
                                      "(the shared data folder)")
needs_mnist = pytest.mark.skipif(not (DATA / "mnist.npz").is_file(),
                                 reason=f"MNIST not found: {DATA / 'mnist.npz'} is absent (the shared data folder)")


def load(name: str):
    """Import examples/<name>.py as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", REPO / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_plot(result: dict, out: Path) -> None:
    assert result["plot"] == str(out)
    assert out.is_file() and out.stat().st_size > 1000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_matplotlib
def test_learning_slowdown_cross_entropy_learns_faster_from_a_saturated_start(tmp_path, capsys):
    out = tmp_path / "slowdown.png"
    result = load("learning_slowdown").main(["--quick", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "quadratic" in printed and "cross-entropy" in printed and "epochs to a<0.1" in printed
    check_plot(result, out)

    # δ at the start: backward() agrees with the formulas (a − y)σ'(z) and a − y
    sat = result["start_deltas"]["saturated"]
    assert sat["z"] == 4.0
    assert sat["quadratic"] == pytest.approx(sat["quadratic_formula"], rel=1e-9)
    assert sat["cross_entropy"] == pytest.approx(sat["cross_entropy_formula"], rel=1e-9)
    assert sat["quadratic"] == pytest.approx(0.98201 * 0.017663, rel=1e-3)
    assert sat["cross_entropy"] / sat["quadratic"] > 50          # 1/σ'(4) ≈ 57

    # the slowdown: the quadratic cost needs many times more epochs than the cross-entropy
    n = result["epochs_to_threshold"]
    quad, ce = n["saturated/quadratic"], n["saturated/cross-entropy"]
    assert ce is not None and quad is not None, n
    assert quad > 5 * ce
    assert result["epochs_to_plateau_end"]["saturated/quadratic"] > 100   # the long flat start
    assert result["epochs_to_plateau_end"]["saturated/cross-entropy"] < 20


@needs_matplotlib
@needs_sklearn
def test_symmetry_zero_and_constant_init_leave_hidden_units_identical(tmp_path, capsys):
    out = tmp_path / "symmetry.png"
    result = load("symmetry").main(["--quick", "--hidden", "16", "16", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "distinct units" in printed and "test acc" in printed
    check_plot(result, out)
    r = result["results"]
    assert result["dtype"] == "float64"      # identical units stay identical; float32 BLAS round-off differs by CPU
    for init in ("zeros", "constant"):
        # every unit of a layer the same, up to round-off (0 on the kernels tried; never assert bit-for-bit)
        assert max(r[init]["spread_after"]) <= 1e-12, init
        assert r[init]["distinct_units"] == [1, 1], init
    assert all(s > 0.1 for s in r["random"]["spread_after"])
    assert r["random"]["distinct_units"] == [16, 16]
    assert r["random"]["test_accuracy"] > r["zeros"]["test_accuracy"] + 0.2
    assert r["random"]["test_accuracy"] > r["constant"]["test_accuracy"] + 0.2


@needs_matplotlib
@needs_lfd
def test_lfd_digits_sgd_gets_lower_in_sample_error_per_epoch(tmp_path, capsys):
    out = tmp_path / "lfd.png"
    result = load("lfd_digits").main(["--quick", "--n-train", "100", "--epochs", "5", "--gd-epochs", "20",
                                      "--data-path", str(DATA), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "E_in" in printed and "SGD" in printed and "GD" in printed
    check_plot(result, out)
    assert result["n_train"] == 100
    for method in ("GD", "SGD"):
        f = result["final"][method]
        for key in ("e_in", "e_test", "class_err_in", "class_err_test"):
            assert 0 <= f[key] < 4, (method, key, f[key])
    # after the same number of epochs (5), SGD's in-sample error is lower than batch GD's
    assert result["sgd_final_e_in"] < result["gd_e_in_same_epochs"]


@needs_matplotlib
@needs_mnist
def test_vanishing_gradients_first_hidden_layer_learns_slowest_in_sigmoid_nets(tmp_path, capsys):
    out = tmp_path / "vanishing.png"
    result = load("vanishing_gradients").main(["--quick", "--seeds", "2", "--examples", "100", "--train-epochs", "3",
                                               "--data-path", str(DATA), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "sigmoid" in printed and "relu-he" in printed and "sigmoid-bn" in printed
    check_plot(result, out)
    table = result["table"]
    for depth in (2, 3, 4):
        sig = table[f"sigmoid/{depth}"]
        assert len(sig["speed"]) == depth
        assert sig["speed"][0] < sig["speed"][-1] / 3, sig["speed"]           # first slower than last
        assert all(a < b for a, b in zip(sig["speed"], sig["speed"][1:]))     # each slower than the next
        assert table[f"relu-he/{depth}"]["ratio"] > 2 * sig["ratio"]          # ReLU + He: far more even
        assert table[f"sigmoid-bn/{depth}"]["ratio_delta"] > 2 * sig["ratio_delta"]
        assert "trained_speed" in sig
    assert table["sigmoid/4"]["ratio"] < table["sigmoid/2"]["ratio"] / 5     # worse with depth
    assert table["relu-he/4"]["ratio"] > 0.2 and table["sigmoid-bn/4"]["ratio_delta"] > 0.2
