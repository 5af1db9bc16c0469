"""The backprop notebook: one offline page with every view of one network; it works in a real browser."""
from __future__ import annotations

import re

import pytest
from test_stepper import browser, driver  # noqa: F401  (the shared headless-Chromium fixture)

from glassgrad.cli import main
from glassgrad.explain.notebook import SECTIONS, notebook_html, write_notebook


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return write_notebook(tmp_path_factory.mktemp("notebook") / "notebook.html", (2, 3, 2), "sigmoid", 0)


def test_page_has_every_section_and_nothing_from_the_network(page):
    text = page.read_text(encoding="utf-8")
    for key, _label in SECTIONS:
        assert f'<section id="{key}"><h2>' in text and f'href="#{key}"' in text
    assert re.search(r"Check: the engine&#x27;s backward\(\)[^<]* AGREE", text)
    assert text.count("<iframe srcdoc=") == 1 and "fitted residual slope" in text and "Fitted slopes" in text
    assert re.findall(r'(?:src|href)="(?:https?:)?//', text) == []


def test_cli(tmp_path, capsys):
    out = tmp_path / "nb.html"
    assert main(["explain", "--html", str(out), "--sizes", "2", "3", "2", "--seed", "1"]) == 0
    assert out.is_file() and "wrote" in capsys.readouterr().out
    assert main(["explain", "--html", str(tmp_path / "nb.txt")]) == 2
    assert "give a .html path" in capsys.readouterr().err and not (tmp_path / "nb.txt").exists()
    assert main(["explain", "--html", str(tmp_path / "x.html"), "--sizes", "2", "2"]) == 2
    assert "needs a hidden layer" in capsys.readouterr().err


@pytest.mark.parametrize("argv, said", [
    (["--seed", "-1"], "argument --seed: must be a whole number >= 0"),
    (["--sizes", "2", "0", "2"], "argument --sizes: must be a whole number >= 1"),
    (["--sizes", "2", "x", "2"], "argument --sizes: must be a whole number >= 1"),
])
def test_cli_flags_checked_like_every_other_command(tmp_path, capsys, argv, said):
    out = tmp_path / "nb.html"
    with pytest.raises(SystemExit) as exit_:
        main(["explain", "--html", str(out), *argv])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("glassgrad explain: error: ") and said in err and err.count("\n") == 1
    assert not out.exists()


def test_other_networks():
    text = notebook_html((2, 4, 3, 2), "tanh", 3)
    assert "Backprop notebook: the [2, 4, 3, 2] tanh network (seed 3)" in text and text.count("<section") == 5


@browser
def test_notebook_in_chromium_steps_inside_the_frame(driver, page):  # noqa: F811
    from selenium.webdriver.common.by import By

    driver.get(page.resolve().as_uri())
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "nav a")] == [label for _, label in SECTIONS]
    assert len(driver.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png;base64,']")) == 2
    driver.switch_to.frame(driver.find_element(By.TAG_NAME, "iframe"))
    total = int(driver.find_element(By.ID, "counter").text.split()[-1])
    for _ in range(total):
        driver.find_element(By.ID, "next").click()
    assert driver.find_element(By.ID, "counter").text == f"backward step {total} of {total}"
    grads = [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#grads tbody tr")]
    assert [g.split()[0] for g in grads] == ["∂f/∂W1", "∂f/∂b1", "∂f/∂W2", "∂f/∂b2"]
    driver.switch_to.default_content()
    assert [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
