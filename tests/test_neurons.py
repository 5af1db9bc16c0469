"""Neuron-level pictures: the numbers on them are the trace's, the cost is one node, wide layers are
summarised, and in headless Chromium at 1,400 px nothing scrolls sideways, no two labels overlap and every
neuron's text stays inside its shape ([2, 3, 2] and [4, 8, 8, 3])."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from test_stepper import browser, driver  # noqa: F401  (the shared headless-Chromium fixture)

import glassgrad as gg
from glassgrad.cli import main
from glassgrad.explain import neuron_view, trace
from glassgrad.train.models import mlp


def _trace(sizes, notation="nndl", activation="sigmoid"):
    gg.manual_seed(0)
    model = mlp(sizes, activation, activation, weight_init="normal")
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    rng = np.random.default_rng(0)
    return trace(model, rng.standard_normal(sizes[0]), np.eye(sizes[-1])[0], notation=notation)


def _texts(svg: str) -> list[str]:
    """The visible text of every <text> (sub- and superscripts run in; tooltips left out)."""
    root = ET.fromstring(re.sub(r"<title>.*?</title>", "", svg))
    return ["".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")]


def test_forward_picture_has_z_and_a_in_each_neuron_and_weights_on_edges():
    t = _trace([2, 3, 2])
    svg = neuron_view(t).forward_svg()
    texts = _texts(svg)
    for layer in t.layers:
        for z, a in zip(layer.z, layer.a):
            assert f"z {z:.3g}".replace("-", "−") in texts and f"a {a:.3g}".replace("-", "−") in texts
    for w in t.layers[0].weight.ravel():
        assert f"{w:.3g}".replace("-", "−") in texts          # written on its edge
    assert svg.count('class="cost"') == 1                      # the cost is one node, not five gates
    assert f"C = {t.cost_value:.3g}" in texts


def test_reverse_picture_multiplies_by_f_prime_and_feeds_dC_da_at_the_output():
    t = _trace([2, 3, 2])
    svg = neuron_view(t).reverse_svg()
    texts = _texts(svg)
    a, y, z = t.layers[-1].a, t.y, t.layers[-1].z
    sig = 1 / (1 + np.exp(-z))
    for j in range(2):
        assert f"{a[j] - y[j]:.3g}".replace("-", "−") in texts            # ∂C/∂a^L_j enters from the cost
        assert f"×{sig[j] * (1 - sig[j]):.3g}" in texts                   # the triangle's σ'(z)
        assert f"δ2{j + 1} = {t.layers[-1].delta[j]:.3g}".replace("-", "−") in texts   # δ^2_j (sup/sub tspans)
    assert svg.count("<polygon") == 5 and svg.count('class="cost"') == 1
    for w in t.layers[1].weight.ravel():
        assert f"{w:.3g}".replace("-", "−") in texts          # δ travels back along the same weights


def test_lfd_picture_uses_the_lecture_numbers():
    t = _trace([2, 2, 1], notation="lfd", activation="tanh")
    texts = _texts(neuron_view(t).reverse_svg())
    assert f"δ(2)1 = {t.layers[-1].delta[0]:.3g}".replace("-", "−") in texts
    assert f"{2 * (t.layers[-1].a[0] - t.y[0]):.3g}".replace("-", "−") in texts   # ∂e/∂x = 2(x − y)


def test_wide_layers_are_summarised_and_names_are_escaped(tmp_path):
    t = _trace([3, 12, 2])
    view = neuron_view(t)
    svg = view.forward_svg()
    assert "12 units" in svg and svg.count("<ellipse") == 3 + 2     # the 12-unit layer is one box
    page = view.save(tmp_path / "n.html")
    assert "<script" not in page.read_text(encoding="utf-8")
    with pytest.raises(ValueError, match="use .html or .svg"):
        view.save(tmp_path / "n.pdf")
    with pytest.raises(ValueError, match="one example"):
        neuron_view(trace(mlp([2, 2]), np.zeros((3, 2)), np.zeros((3, 2))))


def test_mlp_cli_writes_the_neuron_picture(tmp_path, capsys):
    page = tmp_path / "net.html"
    assert main(["explain", "mlp", "--sizes", "2", "3", "2", "--graph", str(page)]) == 0
    assert "neuron picture written" in capsys.readouterr().out
    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == 2 and "reverse network" in html
    svg = tmp_path / "rev.svg"
    assert main(["explain", "mlp", "--graph", str(svg), "--reverse"]) == 0
    assert "<polygon" in svg.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# In headless Chromium at 1,400 px
# --------------------------------------------------------------------------------------------------
MEASURE = """
const rect = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
return {
  scroll: [document.documentElement.scrollWidth, document.documentElement.clientWidth],
  svgs: [...document.querySelectorAll('svg')].map(rect),
  texts: [...document.querySelectorAll('svg text')].map(rect),
  neurons: [...document.querySelectorAll('svg g.neuron')].map(g => ({
      shape: rect(g.querySelector('ellipse, polygon')),
      inner: [...g.querySelectorAll('text')].map(rect)})),
};
"""


def _overlap(a, b, slack=0.5) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > slack and min(a[3], b[3]) - max(a[1], b[1]) > slack


@browser
@pytest.mark.parametrize("sizes", [[2, 3, 2], [4, 8, 8, 3]])
def test_pictures_fit_1400px_without_overlaps(driver, tmp_path, sizes):  # noqa: F811
    page = neuron_view(_trace(sizes)).save(tmp_path / "net.html")
    driver.set_window_size(1400, 1000)
    driver.get(page.as_uri())
    m = driver.execute_script(MEASURE)
    scroll_width, client_width = m["scroll"]
    assert scroll_width <= client_width <= 1400, f"horizontal scroll: {scroll_width} > {client_width}"
    assert all(s[2] <= client_width for s in m["svgs"])
    texts = m["texts"]
    clashes = [(a, b) for i, a in enumerate(texts) for b in texts[i + 1:] if _overlap(a, b)]
    assert not clashes, f"{len(clashes)} overlapping labels, e.g. {clashes[:2]}"
    for n in m["neurons"]:                  # the text in an ellipse or triangle stays inside it
        left, top, right, bottom = n["shape"]
        for t in n["inner"]:
            if top <= (t[1] + t[3]) / 2 <= bottom:
                assert left - 0.5 <= t[0] and t[2] <= right + 0.5, (n["shape"], t)



@browser
def test_gate_graph_page_scales_to_1400px(driver, tmp_path):  # noqa: F811
    """The gate-level graph of [4, 8, 8, 3] (thousands of px wide when drawn) is scaled to the window."""
    page = tmp_path / "gates.html"
    assert main(["explain", "mlp", "--sizes", "4", "8", "8", "3", "--graph", str(page), "--gates", "--reverse"]) == 0
    driver.set_window_size(1400, 1000)
    driver.get(page.as_uri())
    natural, shown = driver.execute_script(
        "const s = document.querySelector('svg'); return [s.viewBox.baseVal.width, s.getBoundingClientRect().width];")
    scroll_width, client_width = driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert natural > 1400 and shown <= client_width and scroll_width <= client_width
