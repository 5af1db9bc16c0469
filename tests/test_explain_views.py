"""The explain views: circuit (CLI and gate_table), the safe expression parser, the graph view and the
layer trace in three notations, checked against numbers computed by hand."""
from __future__ import annotations

import builtins
import importlib
import math
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn
from glassgrad.cli import main
from glassgrad.explain import (
    ExpressionError,
    GraphvizNotFound,
    evaluate_expression,
    gate_steps,
    gate_table,
    graph,
    sigmoid_neuron,
    trace,
)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["explain", *argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def named(**values):
    leaves = []
    for k, v in values.items():
        t = gg.tensor(v, dtype=gg.float64, requires_grad=True)
        t.name = k
        leaves.append(t)
    return leaves


# --------------------------------------------------------------------------------------------------
# The notes' first circuit f = (x + y)·z at x = −2, y = 5, z = −4
# --------------------------------------------------------------------------------------------------
def test_circuit_cli_default_is_the_notes_example(capsys):
    rc, out, _ = run_cli(capsys, "circuit")
    assert rc == 0
    assert "(x + y) * z" in out and "x = -2, y = 5, z = -4" in out
    assert "f = -12.0000" in out
    assert "∂f/∂z = 3.0000" in out
    assert "∂f/∂x = -4.0000" in out and "∂f/∂y = -4.0000" in out


def test_circuit_through_gate_table():
    x, y, z = named(x=-2.0, y=5.0, z=-4.0)
    f = (x + y) * z
    steps, grads = gate_steps(f, [x, y, z])
    assert [s.gate for s in steps] == ["add", "mul"]
    assert steps[-1].output == -12.0
    assert grads == [-4.0, -4.0, 3.0]
    assert steps[1].local == [-4.0, 3.0]          # multiply swaps its inputs
    text = gate_table(f, [x, y, z])
    assert "-12.0000" in text and "∂f/∂z = 3.0000" in text and "∂f/∂x = -4.0000" in text


def test_circuit_cli_with_an_expression(capsys):
    rc, out, _ = run_cli(capsys, "circuit", "--expr", "(x + y) * z", "--values", "x=-2", "y=5", "z=-4")
    assert rc == 0 and "f = -12.0000" in out and "∂f/∂y = -4.0000" in out
    rc, out, _ = run_cli(capsys, "circuit", "--expr", "max(a, b) * exp(-c) + sigmoid(a)", "--values",
                         "a=1", "b=3", "c=0")
    assert rc == 0
    s = 1 / (1 + math.exp(-1))
    assert f"f = {3 + s:.4f}" in out                                  # max(1, 3)·e^0 + σ(1)
    assert f"∂f/∂a = {s * (1 - s):.4f}" in out                        # max routes nothing to a; σ' does
    assert "∂f/∂b = 1.0000" in out and "∂f/∂c = -3.0000" in out


# --------------------------------------------------------------------------------------------------
# The expression parser: safe
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("expr, words", [
    ("__import__('os')", "__import__"),
    ("__import__('os').system('true')", "not allowed"),
    ("x.__class__", "attribute access"),
    ("(lambda: 1)()", "not allowed"),
    ("lambda: x", "lambda"),
    ("x[0]", "subscripts"),
    ("open('f')", "open"),
    ("q + 1", "unknown name 'q'"),
    ("'text'", "numbers only"),
    ("x == 1", "comparisons"),
    ("[x for x in y]", "comprehensions"),
    ("x // 2", "operator"),
    ("exp(x, y)", "takes 1"),
    ("x +", "cannot parse"),
])
def test_expression_parser_refuses_what_is_not_arithmetic(expr, words):
    with pytest.raises(ExpressionError, match=re.escape(words)):
        evaluate_expression(expr, {"x": 1.0, "y": 2.0})


def test_expression_parser_never_uses_eval(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be called")
    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    f, leaves = evaluate_expression("sqrt(abs(x)) / 2 ** y - tanh(relu(x)) + log(y) * -x",
                                    ["x=4", "y=2"])
    assert f.item() == pytest.approx(math.sqrt(4) / 4 - math.tanh(4) + math.log(2) * -4)
    assert [t.name for t in leaves] == ["x", "y"]


def test_circuit_cli_reports_a_refused_expression(capsys):
    rc, out, err = run_cli(capsys, "circuit", "--expr", "__import__('os')", "--values", "x=1")
    assert rc == 2 and "__import__" in err and "not allowed" in err and out == ""
    rc, _, err = run_cli(capsys, "circuit", "--expr", "x * y")
    assert rc == 2 and "--values" in err


# --------------------------------------------------------------------------------------------------
# Graph view
# --------------------------------------------------------------------------------------------------
def test_graph_nodes_ops_and_gradients_equal_the_engine():
    x, y, z = named(x=-2.0, y=5.0, z=-4.0)
    q = (x + y).retain_grad()
    f = q * z
    view = graph(f)
    assert q.grad is None                           # not even a retain_grad() tensor gets the view's pass
    assert len(view.nodes) == 5 and len(view.edges) == 4
    assert view.ops == ["add", "mul"]
    leaves = {n.label: n for n in view.nodes if n.kind == "leaf"}
    assert set(leaves) == {"x", "y", "z"}
    assert x.grad is None and y.grad is None       # the view leaves .grad alone
    f.backward()                                    # the graph was retained: the engine's own gradients
    assert float(q.grad.data) == -4.0
    for t in (x, y, z):
        assert float(leaves[t.name].grad) == float(t.grad.data)
    assert float(view.nodes[-1].value) == -12.0 and float(view.nodes[-1].grad) == 1.0


def test_graph_shows_constants_as_values_and_refuses_a_freed_graph():
    (x,) = named(x=3.0)
    f = (x * 2.0).exp()
    view = graph(f, backward=False)
    const = [n for n in view.nodes if n.kind == "const"]
    assert len(const) == 1 and float(const[0].value) == 2.0
    assert all(n.grad is None for n in view.nodes)
    f.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        graph(f)


def test_graph_shows_the_broadcast_sum_for_a_batch():
    gen = gg.Generator(0)
    X = gg.randn(64, 5, generator=gen)
    W = gg.randn(5, 10, requires_grad=True, generator=gen)
    b = gg.zeros(10, requires_grad=True)
    X.name, W.name, b.name = "X", "W", "b"
    loss = (X @ W + b).sigmoid().mean()
    view = graph(loss)
    b_id = next(n.id for n in view.nodes if n.label == "b")
    (edge,) = [e for e in view.edges if e.src == b_id]
    assert edge.summed == "Σ over axis 0: (64, 10) → (10,)"
    assert [e for e in view.edges if e.summed] == [edge]
    assert "Σ over axis 0: (64, 10) → (10,)" in view.to_dot()
    assert "Σ over axis 0" in view.to_html()
    loss.backward()                                 # the engine's own gradients, into .grad
    np.testing.assert_allclose(edge.grad, b.grad.data, rtol=1e-6)
    np.testing.assert_allclose(view.node(b_id).grad, b.grad.data, rtol=1e-6)
    np.testing.assert_allclose(view.node(next(n.id for n in view.nodes if n.label == "W")).grad, W.grad.data,
                               rtol=1e-6)
    array_lines = view.node(b_id).lines()
    assert array_lines[1] == "= (10,) float32" and any("μ" in s for s in array_lines)


def test_graph_dot_text_has_the_nodes_and_edges():
    x, y, z = named(x=-2.0, y=5.0, z=-4.0)
    view = graph((x + y) * z)
    dot = view.to_dot()
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    node_ids = re.findall(r"^\s+(n\d+) \[", dot, flags=re.M)
    edges = re.findall(r"^\s+(n\d+) -> (n\d+)", dot, flags=re.M)
    assert node_ids == [n.id for n in view.nodes]
    labels = dict(re.findall(r'^\s+(n\d+) \[.*?label="([^\\"]*)', dot, flags=re.M))
    assert sorted(labels.values()) == ["add", "mul", "x", "y", "z"]
    by_label = {v: k for k, v in labels.items()}
    assert sorted(edges) == sorted([(by_label["x"], by_label["add"]), (by_label["y"], by_label["add"]),
                                    (by_label["add"], by_label["mul"]), (by_label["z"], by_label["mul"])])
    reverse = graph((x + y) * z, reverse=True).to_dot()
    assert sorted(re.findall(r"^\s+(n\d+) -> (n\d+)", reverse, flags=re.M)) == sorted((b, a) for a, b in edges)


def test_graph_html_is_self_contained():
    f, _ = sigmoid_neuron()
    for view in (graph(f), graph(f, reverse=True)):
        page = view.to_html()
        assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "</svg>" in page
        assert "http://" not in page and "https://" not in page and "<script" not in page
        assert "<svg" in view._repr_html_() and "http" not in view._repr_html_()
        svg = view._repr_svg_()
        ET.fromstring(svg)                        # standalone SVG is well-formed XML
        assert svg.count("<rect") == len(view.nodes) and svg.count("marker-end=") == len(view.edges)


def test_graph_reverse_view_labels_local_derivatives():
    w0, x0, w1, x1, w2 = named(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)
    f = (w0 * x0 + w1 * x1 + w2).sigmoid()
    view = graph(f, reverse=True)
    sig = next(n for n in view.nodes if n.label == "sigmoid")
    assert sig.local.startswith("× f'(z)") and sig.local.endswith("= 0.1966")
    assert any("× f'(z)" in line and "0.1966" in line for line in sig.lines(reverse=True))
    w0_id = next(n.id for n in view.nodes if n.label == "w0")
    (edge,) = [e for e in view.edges if e.src == w0_id]
    assert edge.label(reverse=True) == "× -1"          # multiply swaps: w0 is scaled by x0 = −1
    assert float(view.node(w0_id).grad) == pytest.approx(-0.19661193)
    assert "× f'(z)" in view.to_dot() and "× f'(z)" not in graph(f).to_dot()
    assert "0.1966" in view.to_html()


def test_graph_svg_needs_graphviz_but_html_and_dot_do_not(monkeypatch, tmp_path):
    graph_module = importlib.import_module("glassgrad.explain.graph")   # the package exports the function graph
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)
    x, y, z = named(x=-2.0, y=5.0, z=-4.0)
    view = graph((x + y) * z)
    with pytest.raises(GraphvizNotFound, match="Graphviz"):
        view.to_svg()
    with pytest.raises(GraphvizNotFound, match="to_html"):
        view.save(tmp_path / "g.png")
    assert "<svg" in view.save(tmp_path / "g.html").read_text(encoding="utf-8")
    assert view.save(tmp_path / "g.dot").read_text(encoding="utf-8").startswith("digraph")
    with pytest.raises(ValueError, match="unknown file type"):
        view.save(tmp_path / "g.txt")


# --------------------------------------------------------------------------------------------------
# Layer trace: a 2-2-2 sigmoid network with the quadratic cost, by hand
# --------------------------------------------------------------------------------------------------
W1, B1 = [[0.15, 0.20], [0.25, 0.30]], [0.35, 0.35]
W2, B2 = [[0.40, 0.45], [0.50, 0.55]], [0.60, 0.60]
X, Y = [0.05, 0.10], [0.01, 0.99]


def _by_hand():
    """BP1–BP4 with plain Python floats, straight from the notes' formulas."""
    sig = lambda z: 1 / (1 + math.exp(-z))   # noqa: E731
    z1 = [W1[j][0] * X[0] + W1[j][1] * X[1] + B1[j] for j in range(2)]
    a1 = [sig(z) for z in z1]
    z2 = [W2[j][0] * a1[0] + W2[j][1] * a1[1] + B2[j] for j in range(2)]
    a2 = [sig(z) for z in z2]
    d2 = [(a2[j] - Y[j]) * a2[j] * (1 - a2[j]) for j in range(2)]                          # BP1
    d1 = [(W2[0][k] * d2[0] + W2[1][k] * d2[1]) * a1[k] * (1 - a1[k]) for k in range(2)]   # BP2
    gW2 = [[d2[j] * a1[k] for k in range(2)] for j in range(2)]                             # BP4
    gW1 = [[d1[j] * X[k] for k in range(2)] for j in range(2)]
    return dict(z1=z1, a1=a1, z2=z2, a2=a2, d1=d1, d2=d2, gb1=d1, gb2=d2, gW1=gW1, gW2=gW2)


@pytest.fixture
def net():
    model = nn.Sequential(nn.Linear(2, 2, dtype=gg.float64), nn.Sigmoid(), nn.Linear(2, 2, dtype=gg.float64),
                          nn.Sigmoid())
    for layer, w, b in ((model[0], W1, B1), (model[2], W2, B2)):
        layer.weight.data[...] = w
        layer.bias.data[...] = b
    return model


def _shows(text: str, values) -> None:
    for v in np.ravel(values):
        assert f"{v:.4g}" in text, f"{v:.4g} missing from the trace"


def test_hand_values_are_the_known_example():
    h = _by_hand()
    assert h["gW2"][0][0] == pytest.approx(0.082167041, abs=1e-9)   # the classic worked example's ∂E/∂w5


def test_trace_nndl_shows_the_hand_computed_values(net):
    h = _by_hand()
    t = trace(net, X, Y, cost="quadratic", notation="nndl")
    text = str(t)
    l1, l2 = t.layers
    np.testing.assert_allclose(l1.z, h["z1"]), np.testing.assert_allclose(l2.a, h["a2"])
    np.testing.assert_allclose(l2.delta, h["d2"]), np.testing.assert_allclose(l1.delta, h["d1"])
    np.testing.assert_allclose(l2.grad_weight, h["gW2"]), np.testing.assert_allclose(l1.grad_weight, h["gW1"])
    np.testing.assert_allclose(l2.grad_bias, h["gb2"]), np.testing.assert_allclose(l1.grad_bias, h["gb1"])
    for key in ("z1", "a1", "z2", "a2", "d1", "d2", "gW1", "gW2"):
        _shows(text, h[key])
    for words in ("BP1  δ^2 = (a^2 − y) ⊙ σ'(z^2)", "BP2  δ^1 = ((W^2)ᵀ δ^2) ⊙ σ'(z^1)", "BP3  ∂C/∂b^1 = δ^1",
                  "BP4  ∂C/∂W^2 = δ^2 (a^1)ᵀ", "a^0 = x"):
        assert words in text
    assert t.agree and t.max_abs_diff < 1e-12
    assert "AGREE" in text and "largest absolute difference" in text and "backward()" in text


def test_trace_theta_has_the_bias_column(net):
    h = _by_hand()
    t = trace(net, X, Y, notation="theta")
    text = str(t)
    l2, l3 = t.layers                       # the input is layer 1
    assert (l2.number, l3.number) == (2, 3)
    np.testing.assert_allclose(l3.weight, np.hstack([np.array(B2)[:, None], W2]))   # Θ^(2): column 0 = bias
    np.testing.assert_allclose(l3.accumulated[:, 0], h["d2"])                        # Δ^(2) column 0 = δ^(3)
    np.testing.assert_allclose(l3.accumulated[:, 1:], h["gW2"])
    np.testing.assert_allclose(l2.accumulated, np.hstack([np.array(h["d1"])[:, None], h["gW1"]]))
    np.testing.assert_allclose(l2.delta, h["d1"])
    for key in ("z1", "z2", "a2", "d1", "d2", "gW1", "gW2"):
        _shows(text, h[key])
    assert "Θ^(1)" in text and "Δ^(2) = Σ δ^(3) (a^(2))ᵀ" in text and "a^(1) = [1; x]" in text
    assert t.agree and "AGREE" in text


def test_trace_of_a_batch_agrees_with_the_engine_in_every_notation():
    gg.manual_seed(1)
    from glassgrad.train.models import mlp
    model = mlp([3, 4, 2], "tanh")                         # float32, linear output
    rng = np.random.default_rng(0)
    x, labels = rng.standard_normal((5, 3)), np.array([0, 1, 1, 0, 1])
    t = trace(model, x, labels, cost="cross_entropy")
    assert t.agree and t.dtype == "float32" and t.n == 5
    assert t.layers[0].delta.shape == (4, 5)                # one column per example
    assert "softmax(z^2) − y" in str(t)
    lfd = t.in_notation("lfd")
    np.testing.assert_allclose(lfd.layers[1].grad_weight[0], lfd.layers[1].grad_bias)
    theta = t.in_notation("theta")
    np.testing.assert_allclose(theta.layers[0].accumulated, 5 * theta.layers[0].grad_weight)
    assert "D^(1) = ∂J/∂Θ^(1) = Δ^(1) / m" in str(theta)
    assert all(p.grad is None for p in model.parameters())   # the check leaves .grad alone


def test_trace_rejects_what_it_cannot_follow(net):
    with pytest.raises(ValueError, match="Softmax.*neither a Linear layer nor an elementwise activation"):
        trace(nn.Sequential(nn.Linear(2, 2), nn.Softmax()), X, Y)
    with pytest.raises(ValueError, match="unknown cost"):
        trace(net, X, Y, cost="hinge")
    with pytest.raises(ValueError, match="unknown notation"):
        trace(net, X, Y, notation="greek")
    with pytest.raises(ValueError, match="sigmoid output layer"):
        trace(nn.Sequential(nn.Linear(2, 2), nn.Tanh()), X, Y, cost="cross_entropy")


# --------------------------------------------------------------------------------------------------
# explain mlp
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("notation, words", [("nndl", "BP4  ∂C/∂W^2"), ("lfd", "∂e/∂W^(2)"), ("theta", "Δ^(2)")])
def test_mlp_cli_prints_the_trace_with_the_agreement(capsys, notation, words):
    rc, out, _ = run_cli(capsys, "mlp", "--notation", notation)
    assert rc == 0 and words in out and "AGREE" in out and "largest absolute difference" in out


def test_mlp_cli_writes_the_graph(capsys, tmp_path):
    page = tmp_path / "net.html"
    rc, out, _ = run_cli(capsys, "mlp", "--sizes", "3", "4", "2", "--activation", "tanh", "--cost",
                         "cross_entropy", "--graph", str(page), "--reverse", "--gates")
    assert rc == 0 and "AGREE" in out and "graph written" in out
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "W^1" in html and "× f'(z)" in html
    dot = tmp_path / "net.dot"
    assert run_cli(capsys, "mlp", "--graph", str(dot))[0] == 0
    assert "linear" in dot.read_text(encoding="utf-8")


def test_graph_svg_goes_through_dot_when_installed(monkeypatch, tmp_path):
    fake = tmp_path / "dot"          # stands in for Graphviz: echoes its format and the DOT it was fed
    fake.write_text('#!/bin/sh\necho "<svg format=$1>"; cat; echo "</svg>"\n')
    fake.chmod(0o755)
    graph_module = importlib.import_module("glassgrad.explain.graph")
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: str(fake))
    x, y, z = named(x=-2.0, y=5.0, z=-4.0)
    view = graph((x + y) * z)
    svg = view.to_svg()
    assert svg.startswith("<svg format=-Tsvg>") and "digraph" in svg
    assert view.save(tmp_path / "g.png").read_bytes().startswith(b"<svg format=-Tpng>")
