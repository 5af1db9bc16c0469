"""The backward stepper: one step per gate, the final gradients are backward()'s, fan-out contributions add up,
broadcast gradients are summed back; and the page itself, clicked through step by step in headless Chromium
(selenium + chromedriver), shows those numbers."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import glassgrad as gg
from glassgrad.cli import main
from glassgrad.explain.expression import ExpressionError, evaluate
from glassgrad.explain.stepper import network_cost, stepper
from glassgrad.gradcheck import numerical_grad


def test_circuit_steps_and_numbers():
    f, (x, y, z) = evaluate("(x + y) * z", ["x=-2", "y=5", "z=-4"])
    s = stepper(f)
    assert len(s) == len(s.forward_steps) == 2
    first, second = s.backward_steps
    assert (first.gate, float(first.upstream)) == ("mul", 1.0)
    assert [c.label for c in first.contributions] == ["[1]", "z"]
    assert [c.equation for c in first.contributions] == ["1 × -4 = -4", "1 × 3 = 3"]
    assert second.gate == "add" and float(second.upstream) == -4.0
    assert {k: float(v) for k, v in s.gradients.items()} == {"x": -4.0, "y": -4.0, "z": 3.0}
    f.backward()
    assert [float(t.grad.item()) for t in (x, y, z)] == [-4.0, -4.0, 3.0]
    assert [fs.output.item() for fs in s.forward_steps] == [3.0, -12.0]


def test_fan_out_contributions_are_added():
    f, (a,) = evaluate("b = a + a; c = b + b", ["a=1"])
    s = stepper(f)
    assert len(s) == 2
    first, second = s.backward_steps
    assert [(c.label, float(c.after), c.arrived, c.expected) for c in first.contributions] == [
        ("[1]", 1.0, 1, 2), ("[1]", 2.0, 2, 2)]
    assert float(second.upstream) == 2.0          # b is reached once, with the complete sum
    assert [(float(c.value), float(c.after)) for c in second.contributions] == [(2.0, 2.0), (2.0, 4.0)]
    f.backward()
    assert float(s.gradients["a"]) == a.grad.item() == 4.0


def test_model_steps_match_backward_finite_differences_and_broadcast_sums():
    cost = network_cost((2, 3, 2), batch=3, seed=1)
    s = stepper(cost)
    gates = len(s.forward_steps)
    assert gates == 12 and len(s) == gates
    leaves = {}
    stack, seen = [cost.grad_fn], set()
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for t in node.inputs:
            if isinstance(t, gg.Tensor) and t.grad_fn is not None:
                stack.append(t.grad_fn)
            elif isinstance(t, gg.Tensor) and t.requires_grad:
                leaves[t.name] = t
    assert len(seen) == gates
    cost.backward(retain_graph=True)
    for name, t in leaves.items():
        np.testing.assert_allclose(s.gradients[name], t.grad.numpy(), rtol=1e-12, atol=1e-15)
    summed = [c for st in s.backward_steps for c in st.contributions if c.summed]
    assert [(c.label, c.summed) for c in summed] == [("b2", "Σ over axis 0: (3, 2) → (2,)"),
                                                     ("b1", "Σ over axis 0: (3, 3) → (3,)")]
    # the same gradients by centred differences of the cost rebuilt from the leaves' values
    arrays = {name: t.numpy().copy() for name, t in leaves.items()}
    for name in arrays:
        def cost_of(w, name=name):
            return _replay({**arrays, name: w.numpy()})
        numerical = numerical_grad(cost_of, [gg.tensor(arrays[name], dtype=gg.float64)])[0]
        np.testing.assert_allclose(s.gradients[name], numerical, rtol=1e-6, atol=1e-9)


def _replay(arrays):
    """The same network's cost (seed 1: the same x and y) from given weights, as plain arrays in gates."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 2))
    y = rng.uniform(0.05, 0.95, (3, 2))
    a = gg.tensor(x, dtype=gg.float64)
    for ell in (1, 2):
        a = (a @ gg.tensor(arrays[f"W{ell}"]).T + gg.tensor(arrays[f"b{ell}"])).sigmoid()
    return ((a - gg.tensor(y)) ** 2).sum() * (0.5 / 3)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(TypeError, match="expected a Tensor"):
        stepper(np.ones(2))
    with pytest.raises(ValueError, match="nothing to step through"):
        stepper(gg.tensor(1.0, requires_grad=True))
    f, _ = evaluate("x * 2", ["x=1"])
    with pytest.raises(ValueError, match=r"\.html"):
        stepper(f).save(tmp_path / "page.txt")
    assert not (tmp_path / "page.txt").exists()
    with pytest.raises(ExpressionError, match="already a variable"):
        evaluate("x = x + 1; x", ["x=1"])
    with pytest.raises(ExpressionError, match="not allowed"):
        evaluate("import os", ["x=1"])


def test_page_is_offline_and_escapes_names(tmp_path):
    f, _ = evaluate("x * y", {"x": 2.0, "y": 3.0})
    for leaf in f.grad_fn.inputs:
        leaf.name = "</script><script>alert(1)</script>"
    page = stepper(f, title="<b>t</b>").to_html()
    assert "<script>alert(1)" not in page and "<b>t</b>" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "https://" not in page
    assert "&lt;b&gt;t&lt;/b&gt;" in page
    html = stepper(f)._repr_html_()
    assert html.startswith("<iframe srcdoc=") and "<script>" not in html   # the page is escaped into the attribute


def test_cli_step_writes_the_page(tmp_path, capsys):
    out = tmp_path / "step.html"
    assert main(["explain", "step", "--expr", "(x + y) * z", "--values", "x=-2", "y=5", "z=-4",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "∂f/∂x = -4" in text and "∂f/∂z = 3" in text and out.is_file()
    assert main(["explain", "step", "--model", "--out", str(tmp_path / "m.html")]) == 0
    assert "12 backward steps" in capsys.readouterr().out
    assert main(["explain", "step", "--expr", "x +", "--values", "x=1", "--out", str(tmp_path / "bad.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("glassgrad explain step: error: cannot parse") and "Traceback" not in err
    assert not (tmp_path / "bad.html").exists()


# --------------------------------------------------------------------------------------------------
# In a real browser
# --------------------------------------------------------------------------------------------------
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").is_file() else shutil.which("chromium")
DRIVER = "/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").is_file() else shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    SELENIUM = True
except ImportError:
    SELENIUM = False
browser = pytest.mark.skipif(not (CHROMIUM and DRIVER and SELENIUM),
                             reason="needs Chromium and chromedriver (apt-get install chromium chromium-driver) "
                                    "and selenium (pip install selenium)")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield d
    d.quit()


def _open(driver, s, tmp_path):
    from selenium.webdriver.common.by import By

    page = s.save(tmp_path / "step.html")
    driver.get(page.resolve().as_uri())
    return lambda css: driver.find_elements(By.CSS_SELECTOR, css)


def _number(text: str):
    return np.array(json.loads(text), dtype=float)


def _no_console_errors(driver):
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []


@browser
def test_browser_circuit_every_step(driver, tmp_path):
    f, _ = evaluate("(x + y) * z", ["x=-2", "y=5", "z=-4"])
    find = _open(driver, stepper(f), tmp_path)
    counter = lambda: find("#counter")[0].text   # noqa: E731
    assert counter() == "backward step 0 of 2"
    find("#next")[0].click()
    assert counter() == "backward step 1 of 2"
    assert find("#step .upstream")[0].text == "1"
    assert [e.text for e in find("#step .equation")] == ["1 × -4 = -4", "1 × 3 = 3"]
    active = find("#table tr.active")
    assert len(active) == 1 and active[0].text.startswith("[2] mul")
    assert [g.get_attribute("data-node") for g in find("#graph g.active")] == [active[0].get_attribute("data-node")]
    assert len(find("#graph g.feeds")) == 2
    find("#next")[0].click()
    assert counter() == "backward step 2 of 2"
    assert find("#step .upstream")[0].text == "-4"
    assert [e.text for e in find("#step .equation")] == ["-4 × 1 = -4", "-4 × 1 = -4"]
    shown = {tr.find_element("css selector", "td").text: tr.find_element("css selector", ".grad").text
             for tr in find("#grads tbody tr")}
    assert shown == {"∂f/∂x": "-4", "∂f/∂y": "-4", "∂f/∂z": "3"}
    find("#next")[0].click()                       # past the end: stays on the last step
    assert counter() == "backward step 2 of 2"
    find("#prev")[0].click()
    assert counter() == "backward step 1 of 2"
    find("body")[0].send_keys("\ue014")            # the right arrow key
    assert counter() == "backward step 2 of 2"
    find("body")[0].send_keys("\ue012")            # the left arrow key
    assert counter() == "backward step 1 of 2"
    find("#mode-forward")[0].click()
    assert counter() == "forward step 0 of 2"
    outputs = []
    for _ in range(2):
        find("#next")[0].click()
        outputs.append(find("#table tr.active .out")[0].text)
    assert outputs == ["3", "-12"]
    assert find("#step .fwd")[0].text == "[2] mul([1] = 3, z = -4) = -12"
    _no_console_errors(driver)


@browser
def test_browser_fan_out_is_added(driver, tmp_path):
    f, _ = evaluate("b = a + a; c = b + b", ["a=1"])
    find = _open(driver, stepper(f), tmp_path)
    find("#next")[0].click()
    assert [e.text.strip() for e in find("#step .acc")] == ["∂f/∂[1] = 1  (1 of 2 contributions)",
                                                            "∂f/∂[1] = 1 + 1 = 2  (2 of 2 contributions)"]
    find("#next")[0].click()
    assert find("#step .upstream")[0].text == "2"
    assert find("#step .acc")[-2].text.strip() == "∂f/∂a = 2 + 2 = 4  (2 of 2 contributions)"
    row = find("#grads tbody tr")[0]
    assert row.find_element("css selector", ".grad").text == "4"
    assert row.find_element("css selector", ".parts").text == "2 + 2"
    _no_console_errors(driver)


@browser
def test_browser_model_click_through_every_step(driver, tmp_path):
    cost = network_cost((2, 3, 2), batch=3, seed=0)
    s = stepper(cost)
    find = _open(driver, s, tmp_path)
    assert find("#counter")[0].text == f"backward step 0 of {len(s)}"
    for k, st in enumerate(s.backward_steps, start=1):
        find("#next")[0].click()
        assert find("#counter")[0].text == f"backward step {k} of {len(s)}"
        np.testing.assert_allclose(_number(find("#step .upstream")[0].text), st.upstream, rtol=1e-3)
        shown = find("#step .contrib")
        assert len(shown) == len(st.contributions)
        for element, c in zip(shown, st.contributions):
            value = element.find_element("css selector", ".down").get_attribute("textContent")
            np.testing.assert_allclose(_number(value), c.value, rtol=1e-3, atol=1e-12)
        broadcast = [c for c in st.contributions if c.summed]
        sums = [e.text.strip() for e in find("#step .sum")]
        assert [t.partition(": [")[0] for t in sums] == [c.summed for c in broadcast]
        for element, c in zip(find("#step .summed"), broadcast):
            np.testing.assert_allclose(_number(element.text), c.value, rtol=1e-3)
    shown = {tr.find_element("css selector", "td").text[len("∂f/∂"):]: tr.find_element("css selector", ".grad").text
             for tr in find("#grads tbody tr")}
    cost.backward()
    assert set(shown) == set(s.gradients) == {"W1", "b1", "W2", "b2"}
    for name, text in shown.items():
        np.testing.assert_allclose(_number(text), s.gradients[name], rtol=1e-3, atol=1e-12)
    _no_console_errors(driver)
