"""Each notation against a hand computation written from its own notes in plain NumPy (not from the engine):
nndl (Nielsen's BP1–BP4, ½‖a − y‖²), lfd (Magdon-Ismail's lecture: e = (x − y)², δ^(L) = 2(x − y)θ'(s), W^(ℓ)
with the bias as row 0, θ = tanh), theta (J(Θ) with (λ/2m)ΣΘ², bias column exempt, D = Δ/m + (λ/m)Θ);
the single-weight derivation against the notes' formula and against backward(); the cross-notation names;
Markdown and LaTeX output (compiled by pdflatex when it is installed, structurally checked always)."""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn
from glassgrad.cli import main
from glassgrad.explain import trace
from glassgrad.explain.export import Table, latex_document, tex_math
from glassgrad.explain.notation import Symbols, correspondence, parse_entry

# A [2, 3, 2] network: nndl's W^l (rows: neurons of layer l) and b^l
W1 = np.array([[0.15, 0.20], [0.25, 0.30], [-0.40, 0.10]])
B1 = np.array([0.35, -0.35, 0.10])
W2 = np.array([[0.40, 0.45, -0.20], [0.50, 0.55, 0.30]])
B2 = np.array([0.60, -0.60])
X = np.array([[0.05, 0.10], [-1.0, 0.5], [0.3, 0.8]])       # three examples (rows)
Y = np.array([[0.01, 0.99], [0.5, -0.2], [0.9, 0.1]])


def _model(hidden: type, output: type | None) -> nn.Sequential:
    layers = [nn.Linear(2, 3, dtype=gg.float64), hidden(), nn.Linear(3, 2, dtype=gg.float64)]
    model = nn.Sequential(*layers, *([output()] if output else []))
    for layer, w, b in ((model[0], W1, B1), (model[2], W2, B2)):
        layer.weight.data[...] = w
        layer.bias.data[...] = b
    return model


# --------------------------------------------------------------------------------------------------
# lfd: the lecture's algorithm, written with its own matrices W^(ℓ) = [bᵀ; Wᵀ] of shape (d^(ℓ−1)+1) × d^(ℓ)
# --------------------------------------------------------------------------------------------------
def _lfd_by_hand(x, y):
    """One example: x^(0) = [1; x], s^(ℓ) = (W^(ℓ))ᵀ x^(ℓ−1), x^(ℓ) = [1; θ(s^(ℓ))], θ = tanh, e = ‖x^(L) − y‖²."""
    V1 = np.vstack([B1, W1.T])                       # (2+1) × 3, row 0 = biases
    V2 = np.vstack([B2, W2.T])                       # (3+1) × 2
    x0 = np.concatenate([[1.0], x])
    s1 = V1.T @ x0
    x1 = np.concatenate([[1.0], np.tanh(s1)])
    s2 = V2.T @ x1
    x2 = np.tanh(s2)                                 # output: no 1 prepended
    e = np.sum((x2 - y) ** 2)
    d2 = 2 * (x2 - y) * (1 - np.tanh(s2) ** 2)       # δ^(L) = 2(x^(L) − y) θ'(s^(L))
    d1 = (1 - np.tanh(s1) ** 2) * (V2 @ d2)[1:]      # δ^(ℓ) = θ'(s^(ℓ)) ⊗ [W^(ℓ+1) δ^(ℓ+1)] without row 0
    return dict(V1=V1, V2=V2, s1=s1, x1=x1, s2=s2, x2=x2, e=e, d1=d1, d2=d2,
                G1=np.outer(x0, d1), G2=np.outer(x1, d2))   # ∂e/∂W^(ℓ) = x^(ℓ−1) (δ^(ℓ))ᵀ


def test_lfd_one_example_follows_the_lecture():
    h = _lfd_by_hand(X[0], Y[0])
    t = trace(_model(nn.Tanh, nn.Tanh), X[0], Y[0], notation="lfd")
    l1, l2 = t.layers
    np.testing.assert_allclose(l1.weight, h["V1"]), np.testing.assert_allclose(l2.weight, h["V2"])
    np.testing.assert_allclose(l1.z, h["s1"]), np.testing.assert_allclose(l1.a, h["x1"])
    np.testing.assert_allclose(l2.a, h["x2"])
    np.testing.assert_allclose(l2.delta, h["d2"], rtol=1e-12), np.testing.assert_allclose(l1.delta, h["d1"], rtol=1e-12)
    np.testing.assert_allclose(l2.grad_weight, h["G2"], rtol=1e-12)
    np.testing.assert_allclose(l1.grad_weight, h["G1"], rtol=1e-12)
    assert t.cost_value == pytest.approx(h["e"], rel=1e-12)
    # Every δ and gradient is twice nndl's (whose cost has the ½)
    nndl = t.in_notation("nndl")
    np.testing.assert_allclose(l1.delta, 2 * nndl.layers[0].delta, rtol=1e-12)
    assert t.cost_value == pytest.approx(2 * nndl.cost_value, rel=1e-12)
    text = str(t)
    for words in ("e = Σ_j (x^(L)_j − y_j)²", "E_in = (1/N) Σ_n e_n", "δ^(2) = 2(x^(2) − y) ⊗ θ'(s^(2))",
                  "δ^(1) = θ'(s^(1)) ⊗ [W^(2) δ^(2)]_{1…3}", "row 0, the bias unit's, dropped",
                  "∂e/∂W^(2) = x^(1) (δ^(2))ᵀ", "θ = tanh", "AGREE"):
        assert words in text, words
    assert "⊙" not in text                       # the lecture writes ⊗ for the elementwise product throughout
    for v in np.concatenate([h["d1"], h["d2"], h["G2"].ravel()]):
        assert f"{v:.4g}" in text


def test_lfd_batch_is_the_mean_of_the_examples_errors():
    t = trace(_model(nn.Tanh, nn.Tanh), X, Y, notation="lfd")
    hands = [_lfd_by_hand(x, y) for x, y in zip(X, Y)]
    assert t.cost_value == pytest.approx(np.mean([h["e"] for h in hands]), rel=1e-12)   # E_in = (1/N) Σ e_n
    np.testing.assert_allclose(t.layers[0].grad_weight, np.mean([h["G1"] for h in hands], axis=0), rtol=1e-12)
    np.testing.assert_allclose(t.layers[1].delta, np.array([h["d2"] for h in hands]).T, rtol=1e-12)
    assert "E_in = " in str(t) and "∂E_in/∂W^(1) = (1/N) Σ_n x^(0)_n (δ^(1)_n)ᵀ" in str(t)
    assert t.agree


def test_lfd_single_output_writes_the_squared_error():
    model = nn.Sequential(nn.Linear(2, 1, dtype=gg.float64), nn.Tanh())
    t = trace(model, [0.5, -0.5], [0.3], notation="lfd")
    s = float(model[0].weight.data[0] @ [0.5, -0.5] + model[0].bias.data[0])
    assert t.cost_value == pytest.approx((np.tanh(s) - 0.3) ** 2)
    assert t.layers[0].delta == pytest.approx(2 * (np.tanh(s) - 0.3) * (1 - np.tanh(s) ** 2))
    assert "e = (x^(L) − y)²" in str(t)


def test_lfd_has_no_regularisation():
    with pytest.raises(ValueError, match="lfd lecture's backprop has no regularisation"):
        trace(_model(nn.Tanh, nn.Tanh), X, Y, notation="lfd", lam=0.1)


# --------------------------------------------------------------------------------------------------
# theta: J(Θ) = (1/2m) Σ ‖h − y‖² + (λ/2m) Σ Θ² (column 0 exempt); a linear output
# --------------------------------------------------------------------------------------------------
def _theta_by_hand(lam: float):
    """The course notes' algorithm over m examples with a sigmoid hidden layer and a linear output."""
    g = lambda z: 1 / (1 + np.exp(-z))                         # noqa: E731
    T1, T2 = np.hstack([B1[:, None], W1]), np.hstack([B2[:, None], W2])   # Θ^(1), Θ^(2): column 0 = bias
    m = len(X)
    D1, D2, J = np.zeros_like(T1), np.zeros_like(T2), 0.0
    deltas = []
    for x, y in zip(X, Y):
        a1 = np.concatenate([[1.0], x])
        z2 = T1 @ a1
        a2 = np.concatenate([[1.0], g(z2)])
        a3 = T2 @ a2                                           # linear output: h(x) = z^(3)
        J += 0.5 * np.sum((a3 - y) ** 2) / m
        d3 = a3 - y                                            # δ^(3) = a^(3) − y
        d2 = (T2.T @ d3)[1:] * g(z2) * (1 - g(z2))             # drop entry 0, ⊙ g'(z^(2))
        D1 += np.outer(d2, a1)
        D2 += np.outer(d3, a2)                                 # Δ^(j) += δ^(j+1) (a^(j))ᵀ
        deltas.append((d2, d3))
    J += lam / (2 * m) * (np.sum(T1[:, 1:] ** 2) + np.sum(T2[:, 1:] ** 2))
    grads = []
    for Delta, T in ((D1, T1), (D2, T2)):
        G = Delta / m
        G[:, 1:] += lam / m * T[:, 1:]                          # + (λ/m)Θ, not on column 0
        grads.append(G)
    return dict(T1=T1, T2=T2, J=J, Delta1=D1, Delta2=D2, G1=grads[0], G2=grads[1], deltas=deltas)


@pytest.mark.parametrize("lam", [0.0, 0.7])
def test_theta_follows_the_notes_with_and_without_lambda(lam):
    h = _theta_by_hand(lam)
    t = trace(_model(nn.Sigmoid, None), X, Y, notation="theta", lam=lam)
    l2, l3 = t.layers
    np.testing.assert_allclose(l2.weight, h["T1"]), np.testing.assert_allclose(l3.weight, h["T2"])
    np.testing.assert_allclose(l2.accumulated, h["Delta1"], rtol=1e-12)
    np.testing.assert_allclose(l3.accumulated, h["Delta2"], rtol=1e-12)
    np.testing.assert_allclose(l2.grad_weight, h["G1"], rtol=1e-12)
    np.testing.assert_allclose(l3.grad_weight, h["G2"], rtol=1e-12)
    np.testing.assert_allclose(l3.delta, np.array([d3 for _, d3 in h["deltas"]]).T, rtol=1e-12)
    assert t.cost_value == pytest.approx(h["J"], rel=1e-12)
    assert t.agree                                     # the engine's cost has the same λ term
    text = str(t)
    assert "δ^(3) = a^(3) − y" in text and "δ^(3) = (a^(3) − y) ⊙" not in text   # linear output: no g'
    if lam:
        assert "(λ/2m) Σ_l Σ_k Σ_{i≥1} (Θ^(l)_ki)²" in text and "bias column 0 not regularised" in text
        assert "D^(1) = ∂J/∂Θ^(1) = Δ^(1) / m + (λ/m) Θ^(1)" in text
        np.testing.assert_allclose(l2.grad_weight[:, 0], h["Delta1"][:, 0] / 3)     # the bias column: no λ
    else:
        assert "λ = 0: no regularisation term" in text


def test_nndl_with_lambda_is_nielsens_l2():
    """C = C_0 + (λ/2n) Σ w²: ∂C/∂w = ∂C_0/∂w + (λ/n) w, biases unchanged."""
    plain = trace(_model(nn.Sigmoid, nn.Sigmoid), X, Y)
    decayed = trace(_model(nn.Sigmoid, nn.Sigmoid), X, Y, lam=5.0)
    n = len(X)
    penalty = 5.0 / (2 * n) * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    assert decayed.cost_value == pytest.approx(plain.cost_value + penalty)
    np.testing.assert_allclose(decayed.layers[0].grad_weight, plain.layers[0].grad_weight + 5.0 / n * W1)
    np.testing.assert_allclose(decayed.layers[0].grad_bias, plain.layers[0].grad_bias)
    assert decayed.agree and "BP4  ∂C/∂W^1 = δ^1 (a^0)ᵀ + (λ/n) W^1" in str(decayed)


def test_nndl_one_example_by_hand():
    sig = lambda z: 1 / (1 + np.exp(-z))    # noqa: E731
    a1 = sig(W1 @ X[0] + B1)
    a2 = sig(W2 @ a1 + B2)
    d2 = (a2 - Y[0]) * a2 * (1 - a2)                 # BP1
    d1 = (W2.T @ d2) * a1 * (1 - a1)                 # BP2
    t = trace(_model(nn.Sigmoid, nn.Sigmoid), X[0], Y[0])
    np.testing.assert_allclose(t.layers[1].delta, d2, rtol=1e-12)
    np.testing.assert_allclose(t.layers[0].grad_weight, np.outer(d1, X[0]), rtol=1e-12)   # BP4
    assert t.cost_value == pytest.approx(0.5 * np.sum((a2 - Y[0]) ** 2))


# --------------------------------------------------------------------------------------------------
# One weight's derivation
# --------------------------------------------------------------------------------------------------
def _engine_gradient(model, x, y, lam=0.0):
    """∂J/∂W from the engine's backward() on the notes' J (quadratic, ½, + (λ/2m) Σ w²)."""
    from glassgrad.nn import functional as F
    for p in model.parameters():
        p.grad = None
    xt, yt = gg.tensor(np.atleast_2d(x)), gg.tensor(np.atleast_2d(y))
    cost = F.quadratic_cost(model(xt), yt) + F.l2_penalty(model.parameters(), lam, len(xt))
    cost.backward()
    return model


def test_entry_theta_is_the_notes_sum_over_paths():
    """The note's ∂J/∂Θ^(1)_22 = (δ^(3)_1 Θ^(2)_12 + δ^(3)_2 Θ^(2)_22) · g'(z^(2)_2) · x_2, by hand and by
    backward()."""
    model = _model(nn.Sigmoid, None)
    t = trace(model, X[0], Y[0], notation="theta")
    d = t.entry("Theta1[2,2]")
    h = _theta_by_hand(0.0)
    z2 = h["T1"] @ np.concatenate([[1.0], X[0]])
    a2 = 1 / (1 + np.exp(-z2))
    d3 = h["T2"] @ np.concatenate([[1.0], a2]) - Y[0]          # linear output: δ^(3) = a^(3) − y
    gp = a2[1] * (1 - a2[1])                                    # g'(z^(2)_2)
    by_hand = (d3[0] * W2[0, 1] + d3[1] * W2[1, 1]) * gp * X[0][1]
    assert d.value == pytest.approx(by_hand, rel=1e-12)
    engine = _engine_gradient(model, X[0], Y[0])[0].weight.grad.data[1, 1]
    assert d.engine_value == pytest.approx(engine, rel=1e-12) and d.agree
    text = str(d)
    assert "∂J/∂Θ^(1)_{2,2} = x_2 · δ^(2)_2" in text
    assert "(δ^(3)_1 Θ^(2)_{1,2} + δ^(3)_2 Θ^(2)_{2,2}) · g'(z^(2)_2) · x_2" in text
    assert "summing over the 2 paths through layer 3" in text
    for v in (d3[0], d3[1], W2[0, 1], W2[1, 1], gp, X[0][1]):
        assert f"{abs(v):.4g}" in text
    assert "AGREE" in text


@pytest.mark.parametrize("notation, entry, index", [
    ("nndl", "W1[3,2]", (0, 2, 1)), ("nndl", "b1[2]", (0, 1, None)), ("lfd", "W1[2,3]", (0, 2, 1)),
    ("lfd", "W2[0,1]", (2, 0, None)), ("theta", "Theta2[2,3]", (2, 1, 2))])
def test_entry_matches_backward_in_every_notation(notation, entry, index):
    model = _model(nn.Tanh, nn.Tanh)
    lam = 0.3 if notation == "theta" else 0.0
    d = trace(model, X[1], Y[1], notation=notation, lam=lam).entry(entry)
    _engine_gradient(model, X[1], Y[1], lam)
    layer, j, k = index
    p = model[layer].bias if k is None else model[layer].weight
    engine = p.grad.data[j] if k is None else p.grad.data[j, k]
    scale = 2.0 if notation == "lfd" else 1.0          # the lecture's e has no ½
    assert d.value == pytest.approx(scale * engine, rel=1e-10, abs=1e-14) and d.agree


def test_entry_of_a_deep_network_lists_every_delta_from_the_output():
    gg.manual_seed(3)
    from glassgrad.train.models import mlp
    model = mlp([2, 3, 3, 2], "sigmoid", "sigmoid")
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    d = trace(model, X[0], Y[0]).entry("W1[1,2]")
    text = str(d)
    for name in ("δ^3_1", "δ^3_2", "δ^2_1", "δ^2_2", "δ^2_3", "δ^1_1"):
        assert f"  {name} = " in text
    assert d.agree


def test_entry_errors_say_what_is_wrong():
    t = trace(_model(nn.Tanh, nn.Tanh), X[0], Y[0])
    with pytest.raises(ValueError, match="layers 1 … 2"):
        t.entry("W3[1,1]")
    with pytest.raises(ValueError, match="units 1 … 3"):
        t.entry("W1[4,1]")
    with pytest.raises(ValueError, match="write a weight as in"):
        t.entry("weights")
    with pytest.raises(ValueError, match="one example"):
        trace(_model(nn.Tanh, nn.Tanh), X, Y).entry("W1[1,1]")


def test_entry_names_parse_per_notation():
    sizes = [2, 3, 2]
    assert parse_entry("W2[1,2]", "nndl", sizes) == (2, 1, 2)          # w^2_12
    assert parse_entry("W2[1,2]", "lfd", sizes) == (2, 2, 1)           # W^(2)_12: unit 1 of layer 1 → unit 2
    assert parse_entry("W2[0,2]", "lfd", sizes) == (2, 2, 0)           # row 0: the bias
    assert parse_entry("Theta1[2,0]", "theta", sizes) == (1, 2, 0)     # column 0: the bias
    assert parse_entry("Θ1[2,2]", "theta", sizes) == (1, 2, 2)


def test_one_number_has_three_names():
    s = [Symbols(n) for n in ("nndl", "lfd", "theta")]
    assert [x.weight(2, 3, 1) for x in s] == ["w^2_{3,1}", "W^(2)_{1,3}", "Θ^(2)_{3,1}"]
    table = str(correspondence([W1, W2], [B1, B2], limit=40))
    assert re.search(r"0\.3\s+w\^1_\{2,2\}\s+W\^\(1\)_\{2,2\}\s+Θ\^\(1\)_\{2,2\}", table)
    assert re.search(r"-0\.35\s+b\^1_2\s+W\^\(1\)_\{0,2\}\s+Θ\^\(1\)_\{2,0\}", table)
    assert re.search(r"-0\.2\s+w\^2_\{1,3\}\s+W\^\(2\)_\{3,1\}\s+Θ\^\(2\)_\{1,3\}", table)


# --------------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------------
def test_mlp_lfd_defaults_to_tanh_and_prints_the_map(capsys):
    assert main(["explain", "mlp", "--notation", "lfd"]) == 0
    out = capsys.readouterr().out
    assert "activations tanh, tanh" in out and "2(x^(2) − y) ⊗ θ'(s^(2))" in out
    assert "The same numbers in the three notations" in out and "W^(1)_{0,1}" in out


def test_mlp_entry_cli(capsys):
    assert main(["explain", "mlp", "--notation", "theta", "--entry", "Theta1[2,2]", "--lam", "1"]) == 0
    out = capsys.readouterr().out
    assert "∂J/∂Θ^(1)_{2,2}" in out and "+ (λ/m) Θ^(1)_{2,2}" in out and "AGREE" in out
    assert main(["explain", "mlp", "--entry", "W9[1,1]"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "weight layers 1 … 2" in err


# --------------------------------------------------------------------------------------------------
# Markdown and LaTeX
# --------------------------------------------------------------------------------------------------
def _structurally_sound(tex: str) -> None:
    """What pdflatex would choke on first: non-ASCII characters, unbalanced braces, odd $ or begin/end."""
    assert all(ord(c) < 128 for c in tex), sorted({c for c in tex if ord(c) >= 128})
    body = re.sub(r"\\[{}$%&#_]", "", tex)
    depth = 0
    for c in body:
        depth += {"{": 1, "}": -1}.get(c, 0)
        assert depth >= 0
    assert depth == 0
    for line in body.splitlines():
        assert line.count("$") % 2 == 0, line
    assert re.findall(r"\\begin\{(\w+)\}", tex) .__len__() == len(re.findall(r"\\end\{(\w+)\}", tex))


def _compiles(tex: str, tmp_path) -> None:
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed (apt-get install texlive-latex-base); checked structurally only")
    (tmp_path / "doc.tex").write_text(tex, encoding="utf-8")
    run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout[-3000:]
    assert (tmp_path / "doc.pdf").stat().st_size > 1000


def _documents():
    t = trace(_model(nn.Sigmoid, None), X, Y, notation="theta", lam=0.7)
    one = trace(_model(nn.Tanh, nn.Tanh), X[0], Y[0], notation="lfd")
    table = Table(("layer", "‖∂C/∂W‖", "ratio"), [("hidden layer 1", "1.2e-03", "50%"), ("W^2_{3,1}", "—", "0→1")],
                  align_right=(1,))
    parts = [t.render("latex"), one.render("latex"), one.entry("W1[0,2]").render("latex"),
             t.in_notation("nndl").render("latex"), table.latex()]
    return latex_document("\n\n".join(parts))


def test_latex_output_is_sound_and_compiles(tmp_path):
    tex = _documents()
    _structurally_sound(tex)
    assert r"\delta ^{(2)}" in tex and r"\begin{bmatrix}" in tex and r"\otimes" in tex
    _compiles(tex, tmp_path)


def test_markdown_output_has_math_and_tables():
    t = trace(_model(nn.Tanh, nn.Tanh), X[0], Y[0], notation="lfd")
    md = t.render("markdown")
    assert "$\\delta ^{(2)} = 2(x^{(2)} - y) \\otimes \\theta '(s^{(2)}) = \\begin{bmatrix}" in md, md
    assert md.count("$") % 2 == 0
    table = Table(("a", "b"), [("1", "x|y")]).markdown()
    assert table.splitlines() == ["| a | b |", "| :--- | :--- |", "| 1 | x\\|y |"]
    expected = r"\partial C/\partial w^{1}_{2,1} = a^{(l-1)}_{k} \delta ^{l}_{j}"
    assert tex_math("∂C/∂w^1_{2,1} = a^(l−1)_k δ^l_j") == expected


def test_format_flag_on_the_command_line(capsys):
    assert main(["explain", "mlp", "--format", "latex"]) == 0
    out = capsys.readouterr().out
    _structurally_sound(out)
    assert main(["explain", "mlp", "--format", "markdown", "--entry", "W1[1,1]"]) == 0
    assert "$\\partial C/\\partial w^{1}_{1,1}" in capsys.readouterr().out


def test_graph_names_a_models_parameters_as_the_notes_do():
    from glassgrad.explain import graph
    from glassgrad.explain.trace import cost_tensor
    model = nn.Sequential(_model(nn.Sigmoid, None), nn.BatchNorm1d(2, dtype=gg.float64))
    view = graph(cost_tensor(model[0], X, Y), model=model)
    labels = {n.label for n in view.nodes if n.kind == "leaf"}
    assert {"W^1", "b^1", "W^2", "b^2"} <= labels
    unnamed = graph(cost_tensor(model[0], X, Y))
    assert "W^1" not in {n.label for n in unnamed.nodes}
