"""The command line never shows a traceback for a user error: one line ``glassgrad <cmd>: error: …`` and
status 2; Ctrl-C says where it stopped and exits 130; ``--debug`` shows the traceback; ``--help`` shows
the defaults; ``python -m glassgrad`` works."""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli import run, user_error

import glassgrad as gg
from glassgrad.cli import build_parser, main
from glassgrad.train import CheckpointError, load_checkpoint, save_checkpoint

pytest.importorskip("sklearn", reason="the digits data set ships with scikit-learn")

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
MNIST = REPO.parent / "shared" / "data" / "mnist.npz"


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits1")
    rc, _ = run(["train", "--data", "digits", "--epochs", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    return out / "model.npz"


# --------------------------------------------------------------------------------------------------
# Every numeric flag is checked when the command line is parsed
# --------------------------------------------------------------------------------------------------
BAD_FLAGS = [
    (["train"], "--hidden", ["0", "-5", "2.5", "x"]),
    (["train"], "--lr", ["nan", "inf", "-inf", "0", "-0.1", "1e400"]),
    (["train"], "--momentum", ["-0.5", "1", "1.5", "nan"]),
    (["train"], "--l2", ["-1", "nan", "inf"]),
    (["train"], "--seed", ["-1", "1.5"]),
    (["train"], "--epochs", ["0", "-1", "3.0", "nan"]),
    (["train"], "--batch-size", ["0", "-3"]),
    (["predict", "m.npz", "--data", "digits"], "--limit", ["-1", "nan"]),
    (["explain", "gradcheck"], "--sizes", ["0", "-2"]),
    (["explain", "gradcheck"], "--eps", ["0", "nan", "-1e-6"]),
    (["explain", "gradcheck"], "--batch", ["0"]),
    (["explain", "gradcheck"], "--samples", ["0"]),
    (["explain", "gradcheck"], "--seed", ["-1"]),
    (["explain", "health"], "--depth", ["0"]),
    (["explain", "health"], "--hidden", ["0", "-5"]),
    (["explain", "health"], "--lr", ["nan", "0"]),
    (["explain", "health"], "--steps", ["-1"]),
    (["explain", "health"], "--batch-size", ["0"]),
    (["explain", "neuron"], "--w0", ["nan", "inf"]),
    (["explain", "mlp"], "--sizes", ["0"]),
    (["explain", "mlp"], "--seed", ["-1"]),
    (["explain", "mlp"], "--lam", ["-1", "nan"]),
    (["explain", "probe"], "--sizes", ["0"]),
    (["explain", "exercise"], "--seed", ["-1"]),
]


@pytest.mark.parametrize("command, flag, value", [(c, f, v) for c, f, values in BAD_FLAGS for v in values])
def test_a_bad_number_is_one_line_naming_the_flag_and_what_is_allowed(command, flag, value, capsys, tmp_path):
    argv = [*command, f"{flag}={value}", *(["--out", str(tmp_path)] if command == ["train"] else [])]
    message = user_error(argv, capsys)
    assert f"argument {flag}: must be" in message and repr(value) in message
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["evaluate", "--model", "x"], ["explain", "health", "--bogus", "1"]])
def test_an_unknown_flag_is_reported_by_its_command(argv, capsys):
    message = user_error(argv, capsys)
    assert message.startswith(f"glassgrad {' '.join(argv[:-2])}: error: unrecognized arguments: {argv[-2]}")


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_expression_values_must_be_finite(capsys, value):
    message = user_error(["explain", "circuit", "--expr", "x * 2", "--values", f"x={value}"], capsys)
    assert "finite" in message and repr(value) in message


def test_every_option_with_a_default_shows_it_in_help():
    """Defaults in --help (issue #9 item 8): every sub-command's options, by walking the parser."""
    parsers = [build_parser()]
    checked = 0
    while parsers:
        parser = parsers.pop()
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                parsers.extend(action.choices.values())
            elif action.option_strings and action.default not in (None, False, argparse.SUPPRESS) and action.help:
                assert f"(default: {action.default}" in " ".join(text.split()) or "%(default)" in action.help, \
                    (parser.prog, action.option_strings)
                checked += 1
    assert checked > 25


def test_python_dash_m_glassgrad(tmp_path):
    done = subprocess.run([sys.executable, "-m", "glassgrad", "--version"], capture_output=True, text=True,
                          cwd=tmp_path, env=ENV, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("glassgrad ")
    bad = subprocess.run([sys.executable, "-m", "glassgrad", "train", "--hidden", "0"], capture_output=True,
                         text=True, cwd=tmp_path, env=ENV, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "glassgrad train: error: argument --hidden: must be a whole number >= 1, not '0' (see glassgrad train --help)"]


# --------------------------------------------------------------------------------------------------
# Files: --out, --input, checkpoints that do not fit the data
# --------------------------------------------------------------------------------------------------
def test_out_is_checked_before_training(tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out in (a_file / "run", a_file, Path("/proc/glassgrad-run")):
        message = user_error(["train", "--data", "xor", "--epochs", "1", "--out", str(out)], capsys)
        assert f"--out {out}" in message and "cannot write there" in message


@pytest.mark.parametrize("name, make, words", [
    ("empty.npy", lambda p: np.save(p, np.zeros((0, 64), np.float32)), "no examples"),
    ("empty.txt", lambda p: p.write_text(""), "no examples"),
    ("blank.csv", lambda p: p.write_text("\n\n"), "no examples"),
    ("words.npy", lambda p: np.save(p, np.array([["a"] * 64])), "not numbers"),
    ("objects.npy", lambda p: np.save(p, np.array([[None] * 64], dtype=object), allow_pickle=True), "pickled"),
    ("huge.npy", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00v\x00" + repr(
        {"descr": "<f8", "fortran_order": False, "shape": (2 ** 40, 64)}).encode().ljust(117) + b"\n"), "declares"),
    ("text.txt", lambda p: p.write_text("1 2 three\n"), "cannot read"),
    ("nan.npy", lambda p: np.save(p, np.where(np.arange(5)[:, None] == 3, np.nan, np.zeros((5, 64)))), "rows 3"),
    ("allnan.csv", lambda p: p.write_text("\n".join([",".join(["nan"] * 64)] * 2)), "rows 0, 1"),
    ("inf.npy", lambda p: np.save(p, np.full((1, 64), np.inf, np.float32)), "NaN or inf"),
])
def test_predict_input_files_that_cannot_be_classified(digits_model, tmp_path, capsys, name, make, words):
    path = tmp_path / name
    make(path)
    message = user_error(["predict", str(digits_model), "--input", str(path)], capsys)
    assert str(path) in message and words in message


def test_predict_output_that_cannot_be_written(digits_model, tmp_path, capsys):
    message = user_error(["predict", str(digits_model), "--data", "digits", "--output", str(tmp_path)], capsys)
    assert "--output" in message


@pytest.mark.parametrize("argv, flag", [
    (["explain", "step", "--out"], "--out"),
    (["explain", "exercise", "--html"], "--html"),
    (["explain", "--html"], "--html"),
    (["explain", "circuit", "--graph"], "--graph"),
    (["explain", "mlp", "--graph"], "--graph"),
    (["explain", "mlp", "--gates", "--graph"], "--graph"),
    (["explain", "probe", "--plot"], "--plot"),
])
def test_an_output_under_a_file_names_the_flag_and_the_path(tmp_path, capsys, argv, flag):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    target = blocker / ("page.png" if flag == "--plot" else "page.html")
    message = user_error([*argv, str(target)], capsys)
    assert f": error: {flag} {target}: cannot write it (" in message, message
    assert blocker.read_text() == "in the way"


@pytest.mark.parametrize("data", ["moons", "mnist"])
def test_evaluating_a_model_on_a_data_set_of_another_shape(digits_model, capsys, data):
    if data == "mnist" and not MNIST.is_file():
        pytest.skip(f"MNIST not found at {MNIST}")
    argv = ["evaluate", str(digits_model), "--data", data] + (["--data-path", str(MNIST)] if data == "mnist" else [])
    message = user_error(argv, capsys)
    assert "takes 64 inputs and gives 10 outputs" in message and data in message


def test_a_crafted_model_spec_is_refused_without_allocating(digits_model, tmp_path, capsys):
    ckpt = load_checkpoint(digits_model)
    model = ckpt.build_model()
    for spec in ({"kind": "mlp", "sizes": [4_000_000, 4_000_000, 1_000_000]}, "hello", [1, 2]):
        path = save_checkpoint(tmp_path / "spec.npz", model, metadata={**ckpt.metadata, "model": spec})
        for command in (["evaluate", str(path)], ["predict", str(path), "--data", "digits"]):
            message = user_error(command, capsys)
            assert str(path) in message and "metadata/model" in message


def test_metadata_the_commands_read_is_checked(digits_model, tmp_path, capsys):
    ckpt = load_checkpoint(digits_model)
    model = ckpt.build_model()
    for change in ({"settings": [1]}, {"settings": {"loss": 5}}, {"data": ["x"]}, {"num_classes": "ten"}):
        path = save_checkpoint(tmp_path / "meta.npz", model, metadata={**ckpt.metadata, **change})
        message = user_error(["evaluate", str(path)], capsys)
        assert str(path) in message and "metadata" in message


# --------------------------------------------------------------------------------------------------
# Bugs are not user errors: one line and status 1; --debug / GLASSGRAD_DEBUG=1 show the traceback
# --------------------------------------------------------------------------------------------------
def test_an_internal_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    from glassgrad.cli import train as train_cli

    def broken(args):
        raise RuntimeError("something inside broke")

    monkeypatch.setattr(train_cli, "run_evaluate", broken)
    assert main(["evaluate", "m.npz"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glassgrad evaluate: internal error: RuntimeError: something")
    assert "--debug" in err[0]
    with pytest.raises(RuntimeError, match="inside broke"):
        main(["evaluate", "m.npz", "--debug"])
    with pytest.raises(RuntimeError, match="inside broke"):
        main(["--debug", "evaluate", "m.npz"])
    monkeypatch.setenv("GLASSGRAD_DEBUG", "1")
    with pytest.raises(RuntimeError, match="inside broke"):
        main(["evaluate", "m.npz"])
    with pytest.raises(CheckpointError):                 # with debug on, a user error shows its traceback too
        main(["predict", "/nonexistent.npz", "--data", "digits"])


@pytest.mark.parametrize("error, words", [
    (MemoryError("Unable to allocate 44.7 GiB"), "not enough memory (Unable to allocate 44.7 GiB)"),
    (PermissionError(13, "Permission denied", "/root/x.npz"), "/root/x.npz: Permission denied"),
])
def test_the_machine_refusing_is_one_line_not_a_bug(monkeypatch, capsys, error, words):
    from glassgrad.cli import train as train_cli

    def refused(args):
        raise error

    monkeypatch.setattr(train_cli, "run_evaluate", refused)
    assert main(["evaluate", "m.npz"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glassgrad evaluate: error: ") and words in err[0]


# --------------------------------------------------------------------------------------------------
# Ctrl-C: one line, summary.json "interrupted", status 130; the checkpoint holds the last finished epoch
# --------------------------------------------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a subprocess is POSIX")
def test_ctrl_c_stops_training_with_one_line_and_resume_continues(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "glassgrad", "train", "--data", "digits", "--epochs", "10000",
                             "--out", str(out), "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV, cwd=tmp_path)
    log = out / "metrics.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not log.is_file() or len(log.read_text().splitlines()) < 2):
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("glassgrad train: interrupted at ")
    summary = json.loads((out / "summary.json").read_text())
    done = summary["checkpoint_epoch"]
    assert summary["status"] == "interrupted" and done >= 2 and summary["epochs_completed"] in (done, done + 1)
    assert f"{out / 'model.npz'} holds epoch {done}" in lines[0] and "--resume" in lines[0]
    assert load_checkpoint(out / "model.npz").metadata["epoch"] == done
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())

    # resume: continues from the checkpoint to --epochs in all, appending to the same log
    rc, printed = run(["train", "--resume", str(out / "model.npz"), "--epochs", str(done + 1), "--no-progress"])
    assert rc == 0 and "resuming" in printed
    epochs = [json.loads(line)["epoch"] for line in log.read_text().splitlines()]
    assert epochs[-1] == done + 1 and load_checkpoint(out / "model.npz").metadata["epoch"] == done + 1
    assert json.loads((out / "summary.json").read_text())["status"] == "completed"


def test_resume_refuses_changed_settings_and_foreign_checkpoints(digits_model, tmp_path, capsys):
    message = user_error(["train", "--resume", str(digits_model), "--hidden", "8", "--out", str(tmp_path)], capsys)
    assert "--hidden" in message and "--resume" in message
    plain = save_checkpoint(tmp_path / "plain.npz", gg.nn.Linear(64, 10))
    message = user_error(["train", "--resume", str(plain), "--out", str(tmp_path)], capsys)
    assert "no run settings" in message
