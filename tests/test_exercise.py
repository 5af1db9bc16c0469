"""Exercise mode: seeded worksheets, a key equal to the engine's and PyTorch's gradients, and a grader that names
each planted mistake."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from test_stepper import browser, driver  # noqa: F401  (the shared headless-Chromium fixture)

import glassgrad as gg
from glassgrad.cli import main
from glassgrad.explain.exercise import MISTAKES, Way, affected, backprop, parse_answers, with_mistake, worksheet


def test_same_seed_same_worksheet_other_seed_another():
    assert str(worksheet(7)) == str(worksheet(7)) and worksheet(7).key == worksheet(7).key
    assert str(worksheet(7)) != str(worksheet(8))


@pytest.mark.parametrize("seed", [7, 0, 3])
def test_key_is_the_engines_and_torchs_gradient(seed):
    net = worksheet(seed).net
    hand = backprop(net)
    n = len(net.X)
    W = [gg.tensor(w, dtype=gg.float64, requires_grad=True) for w in net.W]
    b = [gg.tensor(v, dtype=gg.float64, requires_grad=True) for v in net.b]
    a, zs = gg.tensor(net.X, dtype=gg.float64), []
    for Wl, bl in zip(W, b):
        zs.append(a @ Wl.T + bl)
        zs[-1].retain_grad()
        a = zs[-1].sigmoid()
    cost = ((a - gg.tensor(net.Y)) ** 2).sum() * (0.5 / n)
    cost.backward()
    tW = [torch.tensor(w, requires_grad=True) for w in net.W]
    tb = [torch.tensor(v, requires_grad=True) for v in net.b]
    ta = torch.tensor(net.X)
    for Wl, bl in zip(tW, tb):
        ta = torch.sigmoid(ta @ Wl.T + bl)
    (((ta - torch.tensor(net.Y)) ** 2).sum() * (0.5 / n)).backward()
    for ell in range(len(W)):
        np.testing.assert_allclose(hand["w"][ell], W[ell].grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(hand["b"][ell], b[ell].grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(hand["w"][ell], tW[ell].grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(hand["b"][ell], tb[ell].grad.numpy(), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(hand["delta"][ell], n * zs[ell].grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [7, 0, 1, 2])
def test_every_planted_mistake_is_named(seed):
    sheet = worksheet(seed)
    for mistake in MISTAKES:
        questions = affected(sheet, mistake)
        assert questions, f"seed {seed}: {mistake.name} changes no answer"
        wrong = with_mistake(sheet, mistake)
        for grade in sheet.grade({q: wrong[q] for q in questions}):
            if grade.answer is None:
                continue
            assert not grade.correct
            assert mistake in grade.mistakes, f"seed {seed}, {grade.question.id}: {mistake.name} not named"
            assert mistake.name in str(grade)


@pytest.mark.parametrize("seed", [7, 0, 1, 2])
def test_the_grader_names_exactly_the_planted_mistake(seed):
    sheet = worksheet(seed)
    for mistake in MISTAKES:
        wrong = with_mistake(sheet, mistake)
        for grade in sheet.grade({q: wrong[q] for q in affected(sheet, mistake)}):
            if grade.answer is not None:
                assert [m.name for m in grade.mistakes] == [mistake.name]


def test_right_unknown_and_missing_answers():
    sheet = worksheet(7)
    key = sheet.key
    answers = {q: round(v, 5 - int(np.floor(np.log10(abs(v))))) for q, v in key.items()}   # 6 significant figures
    answers["Q2"] = 123.0
    del answers["Q4"]
    grades = {g.question.id: g for g in sheet.grade(answers)}
    assert all(grades[q].correct for q in ("Q1", "Q3", "Q5", "Q6"))
    assert not grades["Q2"].correct and grades["Q2"].mistakes == []
    assert "none of the known mistakes" in str(grades["Q2"])
    assert grades["Q4"].answer is None and "no answer" in str(grades["Q4"])
    with pytest.raises(ValueError, match="no question Q9"):
        sheet.grade({"Q9": 1.0})


def test_mistakes_change_only_what_they_should():
    sheet = worksheet(7)
    right = backprop(sheet.net)
    batch = backprop(sheet.net, Way(batch="sum"))
    np.testing.assert_allclose(batch["b"][0], 3 * right["b"][0])
    for ell in range(2):
        np.testing.assert_array_equal(batch["delta"][ell], right["delta"][ell])
    no_t = backprop(sheet.net, Way(transpose=False))
    np.testing.assert_array_equal(no_t["delta"][1], right["delta"][1])


def test_parse_answers():
    assert parse_answers("Q1 = 0.5\n# note\nq2: -1e-3  # mine\n\n") == {"Q1": 0.5, "Q2": -0.001}
    with pytest.raises(ValueError, match="line 2: expected 'Q1 = number'"):
        parse_answers("Q1 = 1\nthe answer is 3\n")
    with pytest.raises(ValueError, match="line 1: 'abc' is not a number"):
        parse_answers("Q1 = abc")
    with pytest.raises(ValueError, match="not a finite number"):
        parse_answers("Q1 = nan")


def test_cli(tmp_path, capsys, monkeypatch):
    assert main(["explain", "exercise", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    assert "Backprop worksheet (seed 7" in out and "Q6." in out
    assert main(["explain", "exercise", "--seed", "7", "--answers"]) == 0
    key = parse_answers(capsys.readouterr().out)
    assert key == pytest.approx(worksheet(7).key, rel=1e-5)
    sheet = worksheet(7)
    sign = next(m for m in MISTAKES if m.name == "sign of (a − y)")
    answers = {**key, "Q1": with_mistake(sheet, sign)["Q1"]}
    path = tmp_path / "answers.txt"
    path.write_text("".join(f"{q} = {v:.6g}\n" for q, v in answers.items()))
    assert main(["explain", "exercise", "--seed", "7", "--check", str(path)]) == 1
    out = capsys.readouterr().out
    assert "it is what you get with: sign of (a − y)" in out and "5 of 6 right" in out
    path.write_text("Q1 = what\n")
    assert main(["explain", "exercise", "--seed", "7", "--check", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 1: 'what' is not a number" in err and "Traceback" not in err
    typed = iter([f"{v:.6g}" for v in key.values()][:5] + [""])
    monkeypatch.setattr("builtins.input", lambda prompt: next(typed))
    assert main(["explain", "exercise", "--seed", "7", "--interactive"]) == 1
    out = capsys.readouterr().out
    assert "5 of 6 right" in out and "Q6" in out and "no answer" in out
    with pytest.raises(SystemExit):      # argparse refuses the notations worksheets do not have yet
        main(["explain", "exercise", "--notation", "lfd"])


def test_cli_bad_notation_message():
    with pytest.raises(ValueError, match="not available for worksheets yet"):
        worksheet(7, "lfd")


def test_theta_worksheet_same_numbers_its_own_names():
    nndl, theta = worksheet(7), worksheet(7, "theta")
    assert theta.key == nndl.key
    text = str(theta)
    assert "Θ^(1) = " in text and "J(Θ) = (1/2m)" in text and "W^1" not in text
    symbols = [q.symbol for q in theta.questions]
    assert symbols[0].startswith("δ^(3)_") and symbols[1].startswith("δ^(2)_")
    assert symbols[2].startswith("∂J/∂Θ^(2)_") and symbols[2].endswith("0")       # a bias: column 0
    sign = next(m for m in MISTAKES if m.name == "sign of (a − y)")
    grade = theta.grade({"Q1": with_mistake(theta, sign)["Q1"]})[0]
    assert grade.mistakes == [sign] and "δ^(3)_" in str(grade)


@browser
def test_html_form_makes_the_answers_file(driver, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    sheet = worksheet(7)
    page = sheet.save_html(tmp_path / "sheet.html")
    driver.get(page.resolve().as_uri())
    half = next(m for m in MISTAKES if m.name == "½ convention: factor 2")
    typed = {**sheet.key, **{q: with_mistake(sheet, half)[q] for q in ("Q1", "Q3")}}
    for q, v in typed.items():
        driver.find_element(By.ID, q).send_keys(f"{v:.5g}")
    driver.find_element(By.ID, "make").click()
    text = driver.find_element(By.ID, "answers").get_attribute("value")
    assert driver.find_element(By.ID, "download").get_attribute("download") == "answers-seed7.txt"
    grades = {g.question.id: g for g in sheet.grade(parse_answers(text))}
    assert [q for q, g in grades.items() if g.correct] == ["Q2", "Q4", "Q5", "Q6"]
    assert [m.name for m in grades["Q1"].mistakes] == [half.name] == [m.name for m in grades["Q3"].mistakes]
