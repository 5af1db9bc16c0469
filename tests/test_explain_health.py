"""Whole-model gradient checks, their cost, gradient health (callback, diagnosis, plots), the run report and
the ``explain gradcheck`` / ``explain health`` / ``train --report`` commands."""
from __future__ import annotations

import re

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn
from glassgrad.cli import main
from glassgrad.explain.health import GradientHealth, health_report, linear_layers
from glassgrad.explain.model_check import check_model_gradients, gradient_cost_comparison
from glassgrad.nn import functional as F
from glassgrad.train import Callback, fit, mlp, optimizer_by_name

RNG = np.random.default_rng(0)
X = RNG.standard_normal((64, 10)).astype(np.float32)
Y = RNG.integers(0, 3, 64)


# ---- model gradient check ---------------------------------------------------------------------------
class WrongTanh(gg.Function):
    """tanh with a wrong derivative: 1 − y instead of 1 − y²."""

    @staticmethod
    def forward(ctx, z):
        y = np.tanh(z)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y)


class BrokenNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(10, 6)
        self.out = nn.Linear(6, 3)

    def forward(self, x):
        return self.out(WrongTanh.apply(self.hidden(x)))


def test_model_gradcheck_passes_on_a_correct_model():
    gg.manual_seed(0)
    model = mlp([10, 8, 3], "sigmoid")
    result = check_model_gradients(model, F.cross_entropy, X[:16], Y[:16])
    assert result, str(result)
    assert [r.name for r in result.rows] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [r.checked for r in result.rows] == [80, 8, 24, 3]
    assert all(r.max_rel_error < 1e-6 for r in result.rows)
    assert result.forward_passes == 1 + 2 * model.num_parameters()
    text = str(result)
    assert "0.weight" in text and "pass" in text and "all parameters pass" in text
    assert model[0].weight.dtype == np.float32       # the check ran on a float64 copy


def test_model_gradcheck_fails_and_names_the_parameter_with_a_wrong_backward():
    gg.manual_seed(0)
    result = check_model_gradients(BrokenNet(), F.cross_entropy, X[:16], Y[:16])
    assert not result
    assert result.failed == ["hidden.weight", "hidden.bias"]    # the output layer is unaffected
    text = str(result)
    assert "FAIL" in text and "hidden.weight" in text and "out.weight" in text


def test_model_gradcheck_samples_entries_per_parameter_reproducibly():
    gg.manual_seed(0)
    model = mlp([10, 8, 3], "tanh")
    a = check_model_gradients(model, F.cross_entropy, X[:8], Y[:8], max_entries_per_param=5, seed=3)
    b = check_model_gradients(model, F.cross_entropy, X[:8], Y[:8], max_entries_per_param=5, seed=3)
    assert [r.checked for r in a.rows] == [5, 5, 5, 3]
    assert a.forward_passes == 1 + 2 * 18
    assert [r.worst_index for r in a.rows] == [r.worst_index for r in b.rows]


def test_cost_comparison_counts_forward_passes_exactly():
    rows = gradient_cost_comparison([[2, 3, 1], [4, 8, 3], [8, 16, 4]], batch=8, verbose=False)
    for row in rows:
        assert row.numerical_forward_passes == 2 * row.parameters
        assert (row.backprop_forward_passes, row.backprop_backward_passes) == (1, 1)
    assert [r.parameters for r in rows] == [13, 67, 212]
    assert rows[-1].numerical_seconds > rows[-1].backprop_seconds


# ---- gradient health --------------------------------------------------------------------------------
def deep_net(activation, std: float, depth: int = 6, width: int = 10) -> nn.Sequential:
    layers = []
    for i in range(depth):
        lin = nn.Linear(10 if i == 0 else width, 3 if i == depth - 1 else width)
        nn.init.normal_(lin.weight, 0.0, std)
        nn.init.normal_(lin.bias, 0.0, std)
        layers.append(lin)
        if i < depth - 1:
            layers.append(activation())
    return nn.Sequential(*layers)


def kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def test_vanishing_gradients_in_a_deep_sigmoid_network_with_small_weights():
    gg.manual_seed(0)
    report = health_report(deep_net(nn.Sigmoid, 0.1), F.cross_entropy, X, Y)
    findings = report.diagnose()
    vanishing = [f for f in findings if f.kind == "vanishing"]
    assert vanishing and vanishing[0].layer == "0"
    assert "vanishing gradients: hidden layer 1 learns" in str(vanishing[0])
    # Nielsen compares hidden layers: the first with the last hidden layer; the output layer is shown beside
    assert "than the last hidden layer, hidden layer 5" in str(vanishing[0]) and "output layer: " in str(vanishing[0])
    assert vanishing[0].numbers["last_layer"] == "8" and vanishing[0].numbers["last_speed"] == report.layers[-2].delta
    assert vanishing[0].numbers["ratio"] > 1e4
    speeds = [layer.delta for layer in report.layers]
    assert speeds == sorted(speeds)       # each layer slower than the next


def test_exploding_gradients_in_a_deep_linear_network_with_large_weights():
    gg.manual_seed(0)
    findings = health_report(deep_net(nn.Identity, 3.0), F.cross_entropy, X, Y).diagnose()
    exploding = [f for f in findings if f.kind == "exploding"]
    assert exploding and "exploding" in str(exploding[0]) and exploding[0].layer == "0"


def test_non_finite_gradients_are_exploding():
    gg.manual_seed(0)
    model = deep_net(nn.Identity, 1.0, depth=2)
    model[0].weight.data[0, 0] = np.inf
    with np.errstate(all="ignore"):
        findings = health_report(model, F.cross_entropy, X, Y).diagnose()
    assert findings[0].kind == "exploding" and "not finite" in str(findings[0])


def test_dead_relus_when_biases_are_very_negative():
    gg.manual_seed(0)
    model = mlp([10, 20, 20, 3], "relu")
    model[2].bias.data[:] = -100.0
    report = health_report(model, F.cross_entropy, X, Y)
    assert report.layers[1].dead == 1.0 and report.layers[0].dead < 0.2
    dead = [f for f in report.diagnose() if f.kind == "dead"]
    assert [f.layer for f in dead] == ["2"] and "dead units in hidden layer 2" in str(dead[0])


def test_saturated_output_layer_when_pre_activations_are_huge():
    gg.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 20), nn.Sigmoid(), nn.Linear(20, 3), nn.Sigmoid())
    model[2].weight.data *= 200.0
    targets = np.eye(3, dtype=np.float32)[Y]
    report = health_report(model, F.quadratic_cost, X, targets)
    assert report.layers[-1].saturated > 0.9
    saturated = [f for f in report.diagnose() if f.kind == "saturated"]
    assert saturated and saturated[0].layer == "2" and "saturated output layer:" in str(saturated[0])


def test_a_healthy_network_gets_a_clean_bill_and_grads_are_left_alone():
    gg.manual_seed(0)
    model = mlp([10, 16, 3], "relu", weight_init="he")
    model[0].weight.grad = gg.ones(16, 10)
    report = health_report(model, F.cross_entropy, X, Y)
    assert kinds(report.diagnose()) == ["ok"]
    assert float(model[0].weight.grad.data.sum()) == 160.0 and model[2].weight.grad is None
    assert "forward" not in vars(model[0])                      # the probe is gone
    assert report.layers[0].grad_b == pytest.approx(report.layers[0].delta, rel=1e-5)   # ∂C/∂b = Σ_x δ_x
    assert "‖δ‖=‖∂C/∂b‖" in str(report)


def test_linear_layers_pairs_each_layer_with_its_activation():
    model = mlp([4, 5, 6, 2], "tanh")
    assert [(layer.name, type(layer.activation).__name__) for layer in linear_layers(model)] == [
        ("0", "Tanh"), ("2", "Tanh"), ("4", "NoneType")]


class CountBatches(Callback):
    def __init__(self):
        self.logs = []

    def on_batch_end(self, state, logs):
        self.logs.append(dict(logs))


def test_gradient_health_records_per_layer_series_during_fit(tmp_path):
    gg.manual_seed(0)
    model = mlp([10, 12, 12, 3], "sigmoid")
    health, counter = GradientHealth(every=3), CountBatches()
    fit(model, F.cross_entropy, optimizer_by_name("sgd", model.parameters(), 0.5), (X, Y), epochs=2,
        batch_size=16, callbacks=[health, counter], verbose=False)
    assert len(counter.logs) == 8 and counter.logs[0]["step"] == 1 and "loss" in counter.logs[0]
    assert health.steps == [1, 4, 7]
    for metric in ("grad_w", "delta", "update_ratio", "saturated"):
        series = health.series(metric)
        assert list(series) == ["0", "2", "4"] and all(len(v) == 3 for v in series.values())
    ratios = health.series("update_ratio")["4"]
    assert all(0 < r < 1 for r in ratios)
    assert health.latest().batch_size == 16
    assert all(f.kind for f in health.diagnose(0))
    assert all("forward" not in vars(m) for m in model.modules())    # unwrapped at the end of training

    from glassgrad.explain import plots
    assert plots.gradient_norm_curves(health, tmp_path / "g.png").stat().st_size > 1000
    assert plots.activation_histograms(health.latest(), tmp_path / "h.png").stat().st_size > 1000
    assert plots.health_plot(health, tmp_path / "p.png").stat().st_size > 1000


def test_write_report_is_one_self_contained_page(tmp_path):
    from glassgrad.explain.report import write_report
    from glassgrad.train import confusion_matrix, predict, predicted_labels

    gg.manual_seed(0)
    model = mlp([10, 12, 3], "sigmoid")
    health = GradientHealth(every=2)
    history = fit(model, F.cross_entropy, optimizer_by_name("sgd", model.parameters(), 0.5), (X, Y), epochs=2,
                  batch_size=16, callbacks=[health], verbose=False)
    matrix = confusion_matrix(predicted_labels(predict(model, X)), Y, 3)
    path = write_report(tmp_path / "r.html", history, model, {"accuracy": 0.5}, matrix, health,
                        title="Report <test>", settings={"lr": 0.5, "model": {"sizes": [10, 12, 3]}})
    page = path.read_text()
    assert "<title>Report &lt;test&gt;</title>" in page
    assert "<script" not in page and not re.search(r"(src|href)=\"(?!data:)", page)
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') >= 3
    assert "Confusion matrix" in page and "Gradient health" in page and "model.sizes" in page
    assert "Linear(10, 12)" in page and "Diagnosis at the end" in page and "<li class=" in page


# ---- the commands -----------------------------------------------------------------------------------
def test_cli_gradcheck_prints_the_table(capsys):
    assert main(["explain", "gradcheck", "--sizes", "4", "8", "3"]) == 0
    out = capsys.readouterr().out
    assert "0.weight" in out and "2.bias" in out and "all parameters pass" in out


def test_cli_gradcheck_broken_fails_and_cost_table(capsys):
    assert main(["explain", "gradcheck", "--sizes", "3", "5", "2", "--broken", "--samples", "4",
                 "--cost-table"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "0.weight" in out
    assert "numerical: forward passes" in out and "1 fwd + 1 bwd" in out and "[32, 64, 10]" in out


def test_cli_health_prints_table_and_diagnosis(capsys, tmp_path):
    plot = tmp_path / "health.png"
    assert main(["explain", "health", "--depth", "4", "--batch", "300", "--steps", "20",
                 "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "At initialisation:" in out and "After 20 steps" in out and "Diagnosis:" in out
    assert "‖δ‖=‖∂C/∂b‖" in out and "speed of learning" in out
    assert "vanishing gradients: hidden layer 1" in out   # 4 sigmoid hidden layers: the notes' slow early layers
    assert "hidden layer 4" in out and "output layer" in out and "step 20" in out
    assert plot.stat().st_size > 1000


def test_cli_train_report(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--hidden", "16", "--report", "--no-progress", "--out", str(out)]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert "glassgrad train: digits [64, 16, 10]" in page and "Gradient health" in page


def _layers(speeds):
    from glassgrad.explain.health import LayerHealth
    from glassgrad.explain.notation import layer_label
    return [LayerHealth(str(2 * i), 30, 30, "Sigmoid", s, s, s, 1.0, None, 0.0, None, 0.5,
                        position=layer_label(i + 1, len(speeds))) for i, s in enumerate(speeds)]


def test_diagnosis_compares_hidden_layers_as_nielsen_does():
    """Nielsen's [784, 30, 30, 30, 10] speeds 0.012, 0.060, 0.283: the first hidden layer is ~24× slower than
    the last hidden layer — vanishing; the output layer (here much faster) is only shown beside."""
    from glassgrad.explain.health import diagnose
    findings = diagnose(_layers([0.012, 0.060, 0.283, 5.0]))
    assert findings[0].kind == "vanishing" and findings[0].numbers["ratio"] == pytest.approx(0.283 / 0.012)
    assert "hidden layer 1 learns 24× more slowly than the last hidden layer, hidden layer 3" in str(findings[0])
    assert "output layer: 5.00e+00" in str(findings[0])
    two = diagnose(_layers([0.012, 0.060, 5.0]))          # [784, 30, 30, 10]: 5×, the trend only
    assert [f.kind for f in two] == ["ok"] and "hidden layer 1 learns 5.0× more slowly" in str(two[0])
    one = diagnose(_layers([0.001, 5.0]))                 # one hidden layer: compared with the output layer
    assert one[0].kind == "vanishing" and "than the output layer" in str(one[0])
