"""The ``glassgrad`` command line: ``main([...])`` in-process, and the installed console script once."""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import glassgrad as gg
from glassgrad.cli import main
from glassgrad.data import load_digits
from glassgrad.train import load_checkpoint, predict, predicted_labels, save_checkpoint

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn")

COMMANDS = ("train", "evaluate", "predict", "demo")


def run(argv: list[str]) -> tuple[int, str]:
    """main(argv) with its standard output captured (for module-scoped fixtures, where capsys is not available)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rc = main(argv)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``glassgrad train --data digits --epochs 3``: the output folder, what it printed, and its exit code."""
    out = tmp_path_factory.mktemp("digits3")
    rc, printed = run(["train", "--data", "digits", "--epochs", "3", "--out", str(out), "--no-progress"])
    return out, printed, rc


def user_error(argv: list[str], capsys) -> str:
    """main(argv) fails as a user error: status 2 (returned, or exited with while parsing), one line on
    standard error, ``glassgrad <command>: error: …``, no traceback. That line."""
    capsys.readouterr()
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"glassgrad {argv[0]}") and ": error: " in lines[0], err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------------------------------
# The console script
# --------------------------------------------------------------------------------------------------
def _console_script() -> str:
    beside = Path(sys.executable).with_name("glassgrad")
    found = str(beside) if beside.exists() else shutil.which("glassgrad")
    if not found:
        pytest.skip("the glassgrad console script is not installed (pip install -e .)")
    return found


def test_console_script_version_and_help(tmp_path):
    script = _console_script()
    version = subprocess.run([script, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"glassgrad {gg.__version__}"
    helped = subprocess.run([script, "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert helped.returncode == 0, helped.stderr
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s", helped.stdout, re.M), f"--help does not list {command!r}"


def test_no_command_prints_the_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: glassgrad") and all(c in out for c in COMMANDS)


# --------------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------------
def test_demo_prints_the_numbers_of_the_notes(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    expected = {"w0": "-0.1966", "x0": "0.3932", "w1": "-0.3932", "x1": "-0.5898", "w2": "0.1966"}
    for leaf, value in expected.items():
        # once for the gate-by-gate circuit, once for the single sigmoid gate
        assert out.count(f"∂f/∂{leaf} = {value}\n") == 2, leaf
    reciprocal = next(line for line in out.splitlines() if re.match(r"\d+\s+reciprocal\b", line))
    assert "0.7311" in reciprocal                                  # f
    assert "-0.5344" in reciprocal                                 # the gradient at the 1/x gate: −1/1.3679²
    exp_row = next(line for line in out.splitlines() if re.match(r"\d+\s+exp\b", line))
    assert exp_row.split()[-1] == "-0.1966"                        # after exp
    sigmoid_row = next(line for line in out.splitlines() if re.match(r"\d+\s+sigmoid\b", line))
    assert "0.7311" in sigmoid_row and "0.1966" in sigmoid_row     # σ(1 − σ) as the local derivative


# --------------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------------
def test_train_writes_its_files_and_reports(trained):
    out, printed, rc = trained
    assert rc == 0
    for name in ("model.npz", "metrics.jsonl", "summary.json"):
        assert (out / name).is_file(), name
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert all({"loss", "accuracy", "val_loss", "val_accuracy"} <= set(r) for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"] == "digits" and summary["model"]["sizes"] == [64, 64, 10]
    assert summary["settings"]["epochs"] == 3
    match = re.search(r"test accuracy (\d\.\d{4})", printed)
    assert match and float(match.group(1)) == round(summary["test"]["accuracy"], 4)
    assert summary["test"]["accuracy"] > 0.8
    assert "confusion matrix" in printed
    header = next(line for line in printed.splitlines() if line.startswith("true\\pred"))
    assert header.split()[1:] == [str(k) for k in range(10)]
    table = printed[printed.index(header):].splitlines()[1:11]
    counts = np.array([[int(v) for v in row.split()[1:]] for row in table])
    assert counts.shape == (10, 10) and counts.sum() == 360            # the 360 test images
    assert np.trace(counts) / 360 == pytest.approx(summary["test"]["accuracy"])
    ckpt = load_checkpoint(out / "model.npz")
    assert ckpt.metadata["model"] == summary["model"] and ckpt.metadata["epoch"] == 3


def test_train_draws_the_learning_curve(trained):
    pytest.importorskip("matplotlib")
    out, printed, _ = trained
    png = out / "learning_curve.png"
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(png) in printed


def test_train_with_the_defaults_keeps_the_readmes_promise(tmp_path):
    """`glassgrad train` on the digits with every default: at least 95 % test accuracy."""
    rc, _ = run(["train", "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["data"] == "digits" and summary["settings"]["epochs"] == 30
    assert summary["test"]["accuracy"] >= 0.95, summary["test"]


# --------------------------------------------------------------------------------------------------
# evaluate and predict
# --------------------------------------------------------------------------------------------------
def test_evaluate_a_saved_model(trained, capsys):
    out, _, _ = trained
    summary = json.loads((out / "summary.json").read_text())
    assert main(["evaluate", str(out / "model.npz")]) == 0
    printed = capsys.readouterr().out
    assert "digits (test, 360 examples)" in printed
    assert re.search(r"accuracy (\d\.\d{4})", printed).group(1) == f"{summary['test']['accuracy']:.4f}"
    assert re.search(r"loss (\d+\.\d{4})", printed).group(1) == f"{summary['test']['loss']:.4f}"
    assert "confusion matrix" in printed
    assert main(["evaluate", str(out / "model.npz"), "--split", "val"]) == 0
    assert "digits (val, 144 examples)" in capsys.readouterr().out


def _expected_labels(checkpoint: Path, x: np.ndarray) -> list[int]:
    from glassgrad.train import build_model

    ckpt = load_checkpoint(checkpoint)
    model = build_model(ckpt.metadata["model"])
    ckpt.restore(model)
    return predicted_labels(predict(model, x)).tolist()


def test_predict_from_a_npy_file(trained, tmp_path, capsys):
    out, _, _ = trained
    x = load_digits().test[0][:6]
    np.save(tmp_path / "inputs.npy", x)
    assert main(["predict", str(out / "model.npz"), "--input", str(tmp_path / "inputs.npy")]) == 0
    lines = capsys.readouterr().out.split()
    assert [int(v) for v in lines] == _expected_labels(out / "model.npz", x)
    # to a file, one prediction a line
    target = tmp_path / "predictions.txt"
    assert main(["predict", str(out / "model.npz"), "--input", str(tmp_path / "inputs.npy"),
                 "--output", str(target)]) == 0
    assert f"wrote 6 predictions to {target}" in capsys.readouterr().out
    assert [int(v) for v in target.read_text().split()] == _expected_labels(out / "model.npz", x)
    # a CSV file of the same inputs gives the same predictions
    np.savetxt(tmp_path / "inputs.csv", x, delimiter=",")
    assert main(["predict", str(out / "model.npz"), "--input", str(tmp_path / "inputs.csv")]) == 0
    assert [int(v) for v in capsys.readouterr().out.split()] == _expected_labels(out / "model.npz", x)


def test_predict_from_a_data_set(trained, capsys):
    out, _, _ = trained
    assert main(["predict", str(out / "model.npz"), "--data", "digits", "--limit", "4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    test_x, test_y = load_digits().test
    assert len(lines) == 4
    for line, label, want in zip(lines, test_y[:4], _expected_labels(out / "model.npz", test_x[:4])):
        assert line == f"{want}\t(true {label})"


def test_predict_refuses_inputs_of_the_wrong_width(trained, tmp_path, capsys):
    out, _, _ = trained
    np.save(tmp_path / "wide.npy", np.zeros((3, 10), np.float32))
    message = user_error(["predict", str(out / "model.npz"), "--input", str(tmp_path / "wide.npy")], capsys)
    assert "takes 64 inputs" in message and "has 10" in message
    message = user_error(["predict", str(out / "model.npz"), "--input", str(tmp_path / "absent.npy")], capsys)
    assert "no such file" in message


# --------------------------------------------------------------------------------------------------
# Bad arguments: a non-zero exit and a message that says what is wrong or what is allowed
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag, value", [("--lr", "-1"), ("--lr", "0"), ("--epochs", "0"), ("--batch-size", "-3")])
def test_train_refuses_non_positive_settings(tmp_path, flag, value, capsys):
    message = user_error(["train", flag, value, "--out", str(tmp_path), "--no-progress"], capsys)
    assert f"argument {flag}: must be" in message and ("> 0" in message or ">= 1" in message)
    assert f"'{value}'" in message
    assert not (tmp_path / "model.npz").exists()


@pytest.mark.parametrize("argv, allowed", [
    (["train", "--data", "nope"], ["digits", "mnist", "moons"]),
    (["train", "--activation", "nope"], ["relu", "sigmoid", "tanh"]),
    (["train", "--optimizer", "nope"], ["sgd", "momentum", "adam"]),
    (["train", "--loss", "nope"], ["cross_entropy", "quadratic"]),
    (["evaluate", "model.npz", "--data", "nope"], ["digits"]),
    (["train", "--lr", "fast"], []),
])
def test_bad_choices_exit_non_zero_listing_what_is_allowed(capsys, argv, allowed):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"'{argv[-1]}'" in err and ("invalid" in err or "must be" in err)
    for choice in allowed:
        assert f"'{choice}'" in err


def test_a_missing_checkpoint(tmp_path, capsys):
    for command in (["evaluate"], ["predict", "--data", "digits"]):
        message = user_error([command[0], str(tmp_path / "nothing.npz"), *command[1:]], capsys)
        assert "nothing.npz" in message and "no such checkpoint file" in message


def test_a_foreign_checkpoint(tmp_path, capsys):
    foreign = tmp_path / "weights.npz"
    np.savez(foreign, w=np.zeros((64, 10)))
    for command in (["evaluate"], ["predict", "--data", "digits"]):
        message = user_error([command[0], str(foreign), *command[1:]], capsys)
        assert str(foreign) in message and "not a glassgrad checkpoint" in message
    text = tmp_path / "notes.npz"
    text.write_text("just some text")
    message = user_error(["evaluate", str(text)], capsys)
    assert str(text) in message and "not a glassgrad checkpoint" in message


def test_a_checkpoint_without_a_model_spec(tmp_path, capsys):
    from glassgrad import nn

    path = save_checkpoint(tmp_path / "python.npz", nn.Linear(64, 10))
    message = user_error(["evaluate", str(path)], capsys)
    assert "no model spec" in message and "restore(" in message


# --------------------------------------------------------------------------------------------------
# Other settings, and a run that diverges
# --------------------------------------------------------------------------------------------------
def test_train_with_quadratic_cost_l2_tanh_and_adam(tmp_path):
    rc, printed = run(["train", "--data", "moons", "--epochs", "2", "--loss", "quadratic", "--activation", "tanh",
                       "--optimizer", "adam", "--lr", "0.01", "--l2", "1.0", "--hidden", "8", "4",
                       "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"]["sizes"] == [2, 8, 4, 2] and summary["model"]["activation"] == "tanh"
    assert summary["model"]["output_activation"] == "sigmoid"       # the quadratic cost gets a sigmoid output
    assert summary["l2"] == 1.0 and summary["settings"]["optimizer"] == "adam"
    assert "L2 λ=1.0" in printed and "quadratic cost" in printed


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_train_that_diverges_in_the_first_epoch_exits_1_and_says_why(tmp_path, capsys):
    """η = 10⁴ with the squared error overflows within a few steps: no traceback, the reason on stderr."""
    rc = main(["train", "--data", "moons", "--loss", "mse", "--lr", "1e4", "--epochs", "3", "--out", str(tmp_path),
               "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1
    assert re.search(r"the loss became (inf|nan) at epoch 1, step \d+", captured.err)
    assert "no epoch completed" in captured.out
    assert (tmp_path / "summary.json").is_file() and not (tmp_path / "model.npz").exists()
    assert not (tmp_path / "learning_curve.png").exists()


def test_bench_command_is_wired_to_the_benchmark_script(capsys):
    from glassgrad.cli import build_parser
    args, extra = build_parser().parse_known_args(["bench", "--quick", "--only", "gate_chain_200"])
    assert args.command == "bench" and args.quick and extra == ["--only", "gate_chain_200"]
