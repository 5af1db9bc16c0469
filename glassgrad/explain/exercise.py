"""Hand-backprop exercises that name the misconception behind a wrong answer.

``worksheet(seed)`` makes a small sigmoid network [2, 3, 3] with short numbers, a batch of three examples,
the quadratic cost C = (1/n) Σ_x ½‖a^L − y‖², and six questions on chosen entries of δ^L, δ^l (for one
example: δ^l_x = ∂C_x/∂z^l), ∂C/∂b^l and ∂C/∂w^l_jk (for the batch), 1-based as in Nielsen's notation —
or, with ``notation="theta"``, the same numbers named as in the Θ notes (δ^(j), ∂J/∂Θ^(j)_ki with the
bias in column 0; J has the same ½ and 1/m, and δ^(L) keeps g'(z) for a sigmoid output).
The same seed gives the same worksheet.

``grade(answers)`` compares each answer with the key; a wrong one is recomputed under every mistake of
a bank of the usual misconceptions (BP1 without σ'(z^L), σ' taken at a instead of z, W not transposed in
BP2, the sign of (a − y), no batch mean, no batch sum, one path of a fan-out instead of the sum, the ½ of
the cost) and the grader names the mistakes that reproduce the student's number, or says none does.
Each mistake is a switch in one hand computation of BP1–BP4, so a mistake made early propagates into
every later answer exactly as it would on paper.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from glassgrad.explain.markup import escape

SIZES = (2, 3, 3)        # hidden and output layers of one size: "W instead of Wᵀ" gives a number to compare
EXAMPLES = 3              # n = 3: a missing 1/n (×3) cannot be confused with a dropped ½ (×2)
REL_TOL, ABS_TOL = 2e-3, 1e-6     # answers to 4 significant figures match; the bank's mistakes differ by far more


def sigma(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigma_prime(z: np.ndarray) -> np.ndarray:
    return sigma(z) * (1.0 - sigma(z))


# --------------------------------------------------------------------------------------------------
# One hand computation of BP1–BP4, with switches for the mistakes
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Way:
    """How BP1–BP4 are computed: the correct way by default; each mistake changes one switch."""

    output_factor: str = "z"     # BP1's σ' at "z" (right), at "a", or "none"
    hidden_factor: str = "z"     # BP2's σ' at "z" (right), at "a", or "none"
    sign: float = 1.0            # +1: (a − y); −1: (y − a)
    cost_factor: float = 1.0     # ∂(½(a−y)²)/∂a = (a − y): 2.0 if the ½ is dropped, 0.5 if the 2 is
    transpose: bool = True       # BP2 with (W^{l+1})ᵀ
    fan_out: int | None = None   # BP2 with only the path through this neuron of layer l+1 (0-based)
    batch: str = "mean"          # "mean" (right), "sum" (no 1/n), or "x1", "x2": one example, no sum


@dataclass(frozen=True)
class Mistake:
    name: str
    explanation: str
    way: Way


def _bank() -> list[Mistake]:
    bank = [
        Mistake("missing σ'(z^L) in BP1", "δ^L = (a^L − y), without the factor σ'(z^L)", Way(output_factor="none")),
        Mistake("missing σ'(z^l) in BP2", "δ^l = (W^{l+1})ᵀ δ^{l+1}, without the factor σ'(z^l)",
                Way(hidden_factor="none")),
        Mistake("σ' at a instead of z", "σ'(a) = σ(a)(1 − σ(a)) used where σ'(z) = a(1 − a) belongs",
                Way(output_factor="a", hidden_factor="a")),
        Mistake("missing transpose of W in BP2", "δ^l = (W^{l+1} δ^{l+1}) ⊙ σ'(z^l): W^{l+1} not transposed",
                Way(transpose=False)),
        Mistake("sign of (a − y)", "δ^L = (y − a^L) ⊙ σ'(z^L): the cost's derivative is a − y, not y − a",
                Way(sign=-1.0)),
        Mistake("missing batch mean", "∂C/∂b and ∂C/∂w summed over the batch without dividing by n",
                Way(batch="sum")),
        Mistake("½ convention: factor 2", "∂C_x/∂a = 2(a − y): the ½ of C = ½‖a − y‖² was dropped",
                Way(cost_factor=2.0)),
        Mistake("½ convention: factor ½", "∂C_x/∂a = ½(a − y): the ½ was kept but the square's 2 forgotten",
                Way(cost_factor=0.5)),
    ]
    bank += [Mistake(f"missing batch sum (example {i} only)", f"∂C/∂b and ∂C/∂w from example x_{i} alone, "
                     "not summed (and averaged) over the batch", Way(batch=f"x{i}")) for i in range(1, EXAMPLES + 1)]
    bank += [Mistake(f"missing fan-out sum (only the path through neuron {k} of layer l+1)",
                     f"(Wᵀδ)_j = Σ_k w_kj δ_k taken as the single term w_{k}j δ_{k}: a neuron feeding several "
                     "neurons receives the sum of their errors", Way(fan_out=k - 1)) for k in range(1, SIZES[-1] + 1)]
    return bank


MISTAKES: list[Mistake] = _bank()
"""The bank of known mistakes the grader tries on a wrong answer."""


@dataclass
class Network:
    """The worksheet's network: weights W[l] (rows: neurons of layer l+1), biases b[l], examples X (rows), Y."""

    W: list[np.ndarray]
    b: list[np.ndarray]
    X: np.ndarray
    Y: np.ndarray


def backprop(net: Network, way: Way = Way()) -> dict:
    """BP1–BP4 by hand (NumPy, float64), computed the given way: per-example δ, ∂C/∂b, ∂C/∂W per layer."""
    a, zs = [net.X], []
    for W, b in zip(net.W, net.b):
        zs.append(a[-1] @ W.T + b)
        a.append(sigma(zs[-1]))

    def factor(kind, z, act):
        return {"z": sigma_prime(z), "a": sigma_prime(act), "none": np.ones_like(z)}[kind]

    L = len(net.W)
    deltas = [way.cost_factor * way.sign * (a[-1] - net.Y) * factor(way.output_factor, zs[-1], a[-1])]
    for ell in range(L - 2, -1, -1):        # built output layer first, reversed below
        W, d = net.W[ell + 1], deltas[-1]
        if way.fan_out is not None:
            back = d[:, way.fan_out:way.fan_out + 1] * W[way.fan_out]
        else:
            back = d @ (W if way.transpose else W.T)
        deltas.append(back * factor(way.hidden_factor, zs[ell], a[ell + 1]))
    deltas.reverse()
    n = len(net.X)

    def reduce(per_example):
        if way.batch == "mean":
            return per_example.sum(axis=0) / n
        if way.batch == "sum":
            return per_example.sum(axis=0)
        return per_example[int(way.batch[1:]) - 1]

    gb = [reduce(d) for d in deltas]
    gW = [reduce(d[:, :, None] * a_in[:, None, :]) for d, a_in in zip(deltas, a[:-1])]
    return {"z": zs, "a": a[1:], "delta": deltas, "b": gb, "w": gW}


# --------------------------------------------------------------------------------------------------
# The worksheet
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Question:
    """One entry to compute; ``quantity`` is "delta" (one example), "b" or "w" (the batch); 1-based."""

    id: str
    quantity: str
    layer: int
    j: int
    k: int | None = None
    example: int | None = None
    notation: str = "nndl"

    @property
    def symbol(self) -> str:
        if self.notation == "theta":       # the input is layer 1, so nndl's layer l is layer l + 1
            if self.quantity == "delta":
                return (f"δ^({self.layer + 1})_{self.j} for example x_{self.example}  "
                        f"(= ∂J_x/∂z^({self.layer + 1})_{self.j})")
            return f"∂J/∂Θ^({self.layer})_{self.j}{0 if self.quantity == 'b' else self.k}"
        if self.quantity == "delta":
            return f"δ^{self.layer}_{self.j} for example x_{self.example}  (= ∂C_x/∂z^{self.layer}_{self.j})"
        if self.quantity == "b":
            return f"∂C/∂b^{self.layer}_{self.j}"
        return f"∂C/∂w^{self.layer}_{self.j}{self.k}"

    def value(self, result: dict) -> float:
        ell, j = self.layer - 1, self.j - 1
        if self.quantity == "delta":
            assert self.example is not None, "a delta question names its example"
            return float(result["delta"][ell][self.example - 1][j])
        if self.quantity == "b":
            return float(result["b"][ell][j])
        assert self.k is not None, "a weight question names its input unit k"
        return float(result["w"][ell][j, self.k - 1])


@dataclass
class Grade:
    """The verdict on one answer."""

    question: Question
    answer: float | None
    correct: bool
    mistakes: list[Mistake]

    def __str__(self) -> str:
        head = f"{self.question.id}  {self.question.symbol}: "
        if self.answer is None:
            return head + "no answer"
        if self.correct:
            return head + f"{self.answer:.6g} is right"
        if not self.mistakes:
            return head + f"{self.answer:.6g} is wrong, and none of the known mistakes reproduces it"
        names = "; or ".join(f"{m.name} — {m.explanation}" for m in self.mistakes)
        return head + f"{self.answer:.6g} is wrong; it is what you get with: {names}"


def _close(answer: float, value: float) -> bool:
    return abs(answer - value) <= REL_TOL * abs(value) + ABS_TOL


def _short_numbers(rng, shape, scale=1.0) -> np.ndarray:
    """Numbers with one decimal, never 0: easy to multiply by hand."""
    v = np.round(rng.normal(0, scale, shape), 1)
    return np.where(v == 0, 0.1, v)


@dataclass
class Worksheet:
    """A seeded network and six questions; ``grade()`` names the mistakes behind wrong answers."""

    seed: int
    notation: str
    net: Network
    questions: list[Question]

    @property
    def key(self) -> dict[str, float]:
        """The right answers by question id."""
        result = backprop(self.net)
        return {q.id: q.value(result) for q in self.questions}

    def grade(self, answers: Mapping[str, float | None]) -> list[Grade]:
        """Grade answers given by question id (missing ones count as unanswered)."""
        unknown = sorted(set(answers) - {q.id for q in self.questions})
        if unknown:
            raise ValueError(f"exercise: no question {', '.join(unknown)} on this worksheet "
                             f"(questions: {', '.join(q.id for q in self.questions)})")
        key, grades = self.key, []
        results = [(m, backprop(self.net, m.way)) for m in MISTAKES]
        for q in self.questions:
            answer = answers.get(q.id)
            if answer is None:
                grades.append(Grade(q, None, False, []))
                continue
            right = _close(answer, key[q.id])
            named = [] if right else [m for m, r in results if _close(answer, q.value(r))]
            grades.append(Grade(q, answer, right, named))
        return grades

    def __str__(self) -> str:
        net = self.net
        fmt = lambda a: np.array2string(np.asarray(a), separator=", ", max_line_width=10_000,  # noqa: E731
                                        formatter={"float_kind": lambda v: f"{v:g}"}).replace("\n", "")
        lines = [f"Backprop worksheet (seed {self.seed}, {self.notation} notation)", ""]
        if self.notation == "theta":
            lines += [f"Network {list(SIZES)}, sigmoid g in every layer; layer 1 is the input, a^(1) = [1; x]:  "
                      "z^(j+1) = Θ^(j) a^(j),  a^(j+1) = [1; g(z^(j+1))] (no bias unit on the output).",
                      f"Cost over the m = {len(net.X)} examples:  J(Θ) = (1/2m) Σ_i ‖h(x_i) − y_i‖²  (no λ term).",
                      "Θ^(j)_ki is row k, column i of Θ^(j): from unit i of layer j to unit k of layer j+1; column 0 "
                      "multiplies the bias unit (1-based units).", ""]
            lines += [f"Θ^({ell}) = {fmt(np.column_stack([b, W]))}" for ell, (W, b) in enumerate(zip(net.W, net.b), 1)]
        else:
            lines += [f"Network {list(SIZES)}, sigmoid σ in every layer:  z^l = W^l a^(l−1) + b^l,  a^l = σ(z^l),  "
                      "a^0 = x.",
                      f"Cost over the batch of n = {len(net.X)} examples:  C = (1/n) Σ_x ½‖a^L − y‖²  "
                      f"(L = {len(net.W)}).",
                      "w^l_jk is row j, column k of W^l: from neuron k of layer l−1 to neuron j of layer l (1-based).",
                      ""]
            for ell, (W, b) in enumerate(zip(net.W, net.b), start=1):
                lines += [f"W^{ell} = {fmt(W)}", f"b^{ell} = {fmt(b)}"]
        for i, (x, y) in enumerate(zip(net.X, net.Y), start=1):
            lines.append(f"x_{i} = {fmt(x)},  y_{i} = {fmt(y)}")
        lines += ["", "Compute (at least 4 significant figures):"]
        lines += [f"  {q.id}. {q.symbol}" for q in self.questions]
        return "\n".join(lines)

    def key_text(self) -> str:
        """The answer key as an answers file would hold it."""
        return "\n".join(f"{q} = {v:.6g}    # {next(x.symbol for x in self.questions if x.id == q)}"
                         for q, v in self.key.items())

    def to_html(self) -> str:
        """The worksheet as an offline HTML form that makes an answers file to download or paste."""
        return _html(self)

    def save_html(self, path: str | os.PathLike) -> Path:
        """Write the HTML form to ``path`` (.html)."""
        from glassgrad.explain.stepper import write_page
        return write_page(path, self.to_html(), "exercise")


NOTATIONS = ("nndl", "theta")     # theta: the same numbers (sigmoid output, no λ), its own names


def worksheet(seed: int = 7, notation: str = "nndl") -> Worksheet:
    """The worksheet for ``seed``: the same seed always gives the same network and questions."""
    if notation not in NOTATIONS:
        raise ValueError(f"exercise: notation {notation!r} is not available for worksheets yet; "
                         f"choose from {', '.join(NOTATIONS)}")
    rng = np.random.default_rng([seed, 11])
    for _ in range(1000):
        sheet = _draw(rng, seed, notation)
        if _unambiguous(sheet):
            return sheet
    raise RuntimeError(f"exercise: no unambiguous worksheet found for seed {seed}")   # pragma: no cover


def _draw(rng, seed: int, notation: str) -> Worksheet:
    W = [_short_numbers(rng, (n_out, n_in)) for n_in, n_out in zip(SIZES, SIZES[1:])]
    b = [_short_numbers(rng, n_out, 0.5) for n_out in SIZES[1:]]
    X = _short_numbers(rng, (EXAMPLES, SIZES[0]))
    Y = np.eye(SIZES[-1])[rng.choice(SIZES[-1], EXAMPLES)]
    L = len(W)
    pick = lambda n: int(rng.integers(1, n + 1))   # noqa: E731
    questions = [
        Question("Q1", "delta", L, pick(SIZES[L]), example=pick(EXAMPLES)),
        Question("Q2", "delta", 1, pick(SIZES[1]), example=pick(EXAMPLES)),
        Question("Q3", "b", L, pick(SIZES[L])),
        Question("Q4", "b", 1, pick(SIZES[1])),
        Question("Q5", "w", L, pick(SIZES[L]), pick(SIZES[L - 1])),
        Question("Q6", "w", 1, pick(SIZES[1]), pick(SIZES[0])),
    ]
    questions = [replace(q, notation=notation) for q in questions]
    return Worksheet(seed, notation, Network(W, b, X, Y), questions)


def _unambiguous(sheet: Worksheet) -> bool:
    """Every mistake changes some answer, and on each question the right answer and the answers of the
    mistakes that change it are told apart at the grading tolerance: the grader can name one mistake."""
    key = sheet.key
    wrong = [with_mistake(sheet, m) for m in MISTAKES]
    if any(all(_close(w[q], key[q]) for q in key) for w in wrong):
        return False
    for q in key:
        values = [key[q]] + [w[q] for w in wrong if not _close(w[q], key[q])]
        if any(_close(u, v) for i, u in enumerate(values) for v in values[i + 1:]):
            return False
    return True


# --------------------------------------------------------------------------------------------------
# Answers: from a file, text, or the prompt
# --------------------------------------------------------------------------------------------------
_LINE = re.compile(r"^\s*(Q\d+)\s*[=:]\s*(\S+)\s*$", re.IGNORECASE)


def parse_answers(text: str, source: str = "answers") -> dict[str, float]:
    """``Q1 = 0.01234`` per line (``:`` works too; ``#`` starts a comment; blank lines are skipped)."""
    answers = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LINE.match(line)
        if not m:
            raise ValueError(f"{source}, line {number}: expected 'Q1 = number', got {raw.strip()!r}")
        try:
            value = float(m.group(2))
        except ValueError:
            raise ValueError(f"{source}, line {number}: {m.group(2)!r} is not a number") from None
        if not np.isfinite(value):
            raise ValueError(f"{source}, line {number}: {m.group(2)!r} is not a finite number")
        answers[m.group(1).upper()] = value
    return answers


def with_mistake(sheet: Worksheet, mistake: Mistake) -> dict[str, float]:
    """The answers a student making ``mistake`` would give (for tests and demonstrations)."""
    result = backprop(sheet.net, mistake.way)
    return {q.id: q.value(result) for q in sheet.questions}


def affected(sheet: Worksheet, mistake: Mistake) -> list[str]:
    """The questions whose answer ``mistake`` changes beyond the grading tolerance."""
    key, wrong = sheet.key, with_mistake(sheet, mistake)
    return [q for q in key if not _close(wrong[q], key[q])]


# --------------------------------------------------------------------------------------------------
# The HTML form
# --------------------------------------------------------------------------------------------------
def _html(sheet: Worksheet) -> str:
    e = escape
    text = str(sheet).split("\n\nCompute", 1)[0]
    rows = "\n".join(f'<tr><td>{e(q.id)}</td><td>{e(q.symbol)}</td><td><input name="{e(q.id)}" '
                     f'id="{e(q.id)}" type="text" inputmode="decimal" size="14"></td></tr>' for q in sheet.questions)
    filename = f"answers-seed{sheet.seed}.txt"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Backprop worksheet, seed {sheet.seed}</title>
<style>body{{font-family:system-ui,sans-serif;margin:24px;max-width:60em;color:#1d2330}}
pre{{background:#f1f3f6;padding:10px;border-radius:6px}} td{{padding:3px 8px}} textarea{{width:100%;height:9em}}
.muted{{color:#6a7385}}</style></head><body>
<h1>Backprop worksheet (seed {sheet.seed})</h1>
<pre>{e(text)}</pre>
<form id="sheet" onsubmit="return false"><table>{rows}</table>
<p><button id="make" type="button">Make my answers file</button>
<a id="download" download="{e(filename)}" hidden>Download {e(filename)}</a></p></form>
<textarea id="answers" readonly></textarea>
<p class="muted">Check your answers with <code>glassgrad explain exercise --seed {sheet.seed}
--notation {sheet.notation} --check
{e(filename)}</code> (or paste the text above into that file): each wrong answer is tested against a bank of
known mistakes, and the one that reproduces your number is named.</p>
<script>
document.getElementById('make').onclick = () => {{
  const lines = [...document.querySelectorAll('#sheet input')].filter(i => i.value.trim() !== '')
    .map(i => `${{i.name}} = ${{i.value.trim()}}`);
  const text = lines.join('\\n') + '\\n';
  document.getElementById('answers').value = text;
  const link = document.getElementById('download');
  link.href = URL.createObjectURL(new Blob([text], {{type: 'text/plain'}}));
  link.hidden = false;
}};
</script></body></html>
"""
