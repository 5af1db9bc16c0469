"""Every HTML/SVG output escapes what the user named: rendered once with harmless names and once with
hostile ones (tensor, layer, variable, title, settings, class names, a CLI --expr), its markup — the
sequence of tags and attribute names — is the same, and the hostile text appears as text. The stepper's
page builds its DOM in JavaScript, so it and the graph page are also loaded in headless Chromium.
"""
from __future__ import annotations

import html
import html.parser
import re

import numpy as np
import pytest

import glassgrad as gg
from glassgrad import nn, optim
from glassgrad.explain import graph, trace
from glassgrad.explain.markup import escape, json_for_script
from glassgrad.explain.neurons import neuron_view
from glassgrad.explain.report import render_report
from glassgrad.explain.stepper import stepper
from glassgrad.nn import functional as F
from glassgrad.train import fit

HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=alert(2)>"
HARMLESS = "harmless name"


class Markup(html.parser.HTMLParser):
    """The start tags with their attribute names, and the text, of an HTML or SVG document."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(name for name, _ in attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(document: str) -> Markup:
    parsed = Markup()
    parsed.feed(document)
    parsed.close()
    return parsed


def assert_escaped(render):
    """``render(name)`` gives a document: the hostile name changes no markup and shows as text."""
    harmless, hostile = parse(render(HARMLESS)), parse(render(HOSTILE))
    assert hostile.tags == harmless.tags
    assert HOSTILE in "".join(hostile.text)


def named_loss(name: str):
    w = gg.randn(2, 3, requires_grad=True, generator=gg.Generator(0))
    w.name = name
    return (gg.tensor([[1.0, 2.0]]) @ w).tanh().sum()


def test_escape_and_json_for_script():
    assert escape(HOSTILE) == ("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;&lt;img src=x "
                               "onerror=alert(2)&gt;")
    assert "<" not in json_for_script({"name": HOSTILE}) and "</script" not in json_for_script([HOSTILE])


@pytest.mark.parametrize("output", ["to_html", "draw_svg", "_repr_html_", "reverse"])
def test_graph_views_escape_tensor_names_and_titles(output):
    def render(name):
        view = graph(named_loss(name), title=name, reverse=output == "reverse")
        return view.to_html() if output == "reverse" else getattr(view, output)()
    assert_escaped(render)


DOT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')      # a quoted DOT string: any character but " and \, or \x


def test_graph_dot_text_quotes_names():
    """In DOT the name sits inside one quoted string, its quote and backslashes escaped (Graphviz escapes
    it again when it draws SVG)."""
    name = HOSTILE + "\\N"
    dot = graph(named_loss(name), title=name).to_dot()
    for line in dot.splitlines():
        rest = DOT_STRING.sub("", line)
        assert '"' not in rest, f"a quote outside a DOT string: {line}"
    labels = [bytes(m, "utf-8").decode("unicode_escape") for m in DOT_STRING.findall(dot)]
    assert any(label.startswith(name + "\n") for label in labels)


def test_stepper_page_escapes_names_and_titles():
    assert_escaped(lambda name: stepper(named_loss(name), title=name).to_html())

    def framed(name):            # in a notebook the page is an iframe's srcdoc: the same page, escaped once more
        frame = parse(stepper(named_loss(name), title=name)._repr_html_())
        assert [tag for tag, _ in frame.tags] == ["iframe"] and not frame.text
        return html.unescape(re.search(r'srcdoc="([^"]*)"', stepper(named_loss(name), title=name)._repr_html_())[1])
    assert_escaped(framed)


def test_neuron_pictures_escape_the_title():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid(), nn.Linear(2, 2), nn.Sigmoid())
    view = neuron_view(trace(model, np.array([[0.5, -0.2]]), np.array([[1.0, 0.0]])))
    assert_escaped(lambda name: view.to_html(title=name))


def test_report_escapes_layer_names_settings_metrics_and_class_names():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)

    def render(name):
        gg.manual_seed(0)
        layer = nn.Activation(gg.tanh, lambda z: 1 - gg.tanh(z) ** 2, name=name)
        model = nn.Sequential(nn.Linear(3, 4), layer, nn.Linear(4, 2))
        history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), (x, y), epochs=1,
                      verbose=False, progress=False)
        return render_report(history, model, {"accuracy": 0.5, name: 1.0}, np.eye(2, dtype=int), title=name,
                             settings={name: name, "lr": 0.1}, class_names=[name, "b"])
    assert_escaped(render)


def test_cli_expr_cannot_inject_markup(tmp_path, capsys):
    """A comment in --expr reaches the page's title; variable names must be identifiers."""
    from glassgrad.cli import main

    def render(text):
        out = tmp_path / "step.html"
        assert main(["explain", "step", "--expr", f"x * y  # {text}", "--values", "x=1", "y=2",
                     "--out", str(out)]) == 0
        return out.read_text(encoding="utf-8")
    assert_escaped(render)
    capsys.readouterr()
    assert main(["explain", "circuit", "--expr", "x * y", "--values", "x=1", "<b>y</b>=2"]) == 2
    assert "cannot be a variable name" in capsys.readouterr().err


# ---- in a real browser: the stepper's DOM is built by its script -------------------------------------------
def _chromium():
    from tests.test_report_chromium import CHROMIUM, run_chromium  # one way to start Chromium
    return CHROMIUM, run_chromium


@pytest.mark.parametrize("page", ["stepper", "graph"])
def test_hostile_names_are_text_in_chromium(page, tmp_path):
    chromium, run_chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium is not installed (/usr/bin/chromium): apt-get install -y chromium")
    loss = named_loss(HOSTILE)
    view = stepper(loss, title=HOSTILE) if page == "stepper" else graph(loss, title=HOSTILE)
    path = tmp_path / f"{page}.html"
    path.write_text(view.to_html(), encoding="utf-8")
    done = run_chromium(path, tmp_path, "--dump-dom")
    assert done.returncode == 0, done.stderr[-3000:]
    dom = parse(done.stdout)
    assert not [t for t in dom.tags if t[0] == "img" or "onerror" in t[1]], "markup from a name reached the DOM"
    assert HOSTILE in "".join(dom.text)
