"""The run report in a real headless Chromium: it renders (a non-blank screenshot), its DOM holds the report,
and the page logs no console errors.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped with the reason when it is absent.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import glassgrad as gg
from glassgrad.explain.health import GradientHealth
from glassgrad.explain.report import write_report
from glassgrad.nn import functional as F
from glassgrad.train import confusion_matrix, fit, mlp, optimizer_by_name, predict, predicted_labels

TITLE = "Chromium check: glassgrad report"


def chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (/usr/bin/chromium, or chromium / "
                                                         "chromium-browser on PATH): apt-get install -y chromium")


def run_chromium(page: Path, tmp: Path, *mode: str) -> subprocess.CompletedProcess:
    """Headless Chromium on file://page with ``mode`` (--screenshot=… or --dump-dom), no network, logging to stderr."""
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0", "--window-size=1200,1600",
            *mode, page.resolve().as_uri()]
    return subprocess.run(args, capture_output=True, text=True, timeout=90, cwd=tmp)


def page_errors(stderr: str, page: Path) -> list[str]:
    """Console messages logged for the page (``INFO:CONSOLE… source: file://page``) and uncaught errors."""
    uri = page.resolve().as_uri()
    return [line for line in stderr.splitlines()
            if ("CONSOLE" in line and uri in line) or "Uncaught" in line or "console error" in line.lower()]


def png_pixels(path: Path) -> np.ndarray:
    import matplotlib.image

    return matplotlib.image.imread(str(path))


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    gg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    model = mlp([6, 16, 3], "tanh")
    health = GradientHealth(every=2)
    history = fit(model, F.cross_entropy, optimizer_by_name("momentum", model.parameters(), 0.1), (x, y),
                  epochs=4, batch_size=20, validation=(x[:40], y[:40]), callbacks=[health], verbose=False)
    matrix = confusion_matrix(predicted_labels(predict(model, x)), y, 3)
    return write_report(tmp_path_factory.mktemp("report") / "report.html", history, model, {"accuracy": 0.9},
                        matrix, health, title=TITLE, settings={"lr": 0.1, "epochs": 4})


def test_report_renders_in_chromium(report, tmp_path):
    shot = tmp_path / "report.png"
    done = run_chromium(report, tmp_path, f"--screenshot={shot}")
    assert shot.is_file(), f"no screenshot (exit {done.returncode}):\n{done.stderr[-3000:]}"
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (1600, 1200)
    assert float(pixels[..., :3].std()) > 0.05, "the screenshot is blank"
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 50     # text, tables and plots, not one fill
    assert page_errors(done.stderr, report) == []


def test_report_dom_and_console_in_chromium(report, tmp_path):
    done = run_chromium(report, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-3000:]
    dom = done.stdout
    assert f"<title>{TITLE}</title>" in dom and f"<h1>{TITLE}</h1>" in dom
    for heading in ("Result", "Settings", "Learning curves", "Confusion matrix", "Gradient health", "Model"):
        assert f"<h2>{heading}</h2>" in dom
    assert len(re.findall(r'<img alt="[^"]+" src="data:image/png;base64,', dom)) >= 3
    assert page_errors(done.stderr, report) == []


def test_console_errors_would_be_caught(tmp_path):
    """The check above can fail: a page with a script error shows up in Chromium's log as we parse it."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><title>bad</title><script>console.error('boom'); notDefined();</script>")
    done = run_chromium(bad, tmp_path, "--dump-dom")
    errors = page_errors(done.stderr, bad)
    assert any("boom" in e for e in errors) and any("Uncaught" in e for e in errors), done.stderr[-3000:]
