"""Paste-ready output: the explain views' tables and formulas as plain text, Markdown or LaTeX.

Every table the explain views print (gate tables, gradient checks, health tables) is a ``Table``, and every
layer trace and single-weight derivation is a list of ``Rich`` lines whose formula parts are ``Math``.
The same object renders three ways:

* ``text``     — what the command line prints, Unicode formulas (δ^(2), ∂C/∂w^1_21, ⊙);
* ``markdown`` — pipe tables, formulas as ``$…$`` LaTeX math (for Markdown slides, Jupyter, KaTeX);
* ``latex``    — a ``tabular`` or ``align*``-free fragment needing only ``amsmath``; ``standalone=True``
  wraps it in a complete document that ``pdflatex`` compiles.

``tex_math`` turns the views' Unicode formulas into LaTeX math (``δ^(ℓ−1)`` → ``\\delta^{(\\ell-1)}``);
``tex_text`` escapes prose for LaTeX and sets its formula-like words in math.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

from glassgrad.texttable import aligned, rule

FORMATS = ("text", "markdown", "latex")

# Unicode → LaTeX math. A trailing space keeps a control word apart from the letter after it.
_MATH = {
    "δ": r"\delta ", "Δ": r"\Delta ", "Θ": r"\Theta ", "θ": r"\theta ", "σ": r"\sigma ", "λ": r"\lambda ",
    "η": r"\eta ", "ε": r"\varepsilon ", "μ": r"\mu ", "ℓ": r"\ell ", "Σ": r"\sum ", "∂": r"\partial ",
    "⊙": r"\odot ", "⊗": r"\otimes ", "ᵀ": r"^{\top}", "−": "-", "×": r"\times ", "·": r"\cdot ",
    "→": r"\to ", "←": r"\leftarrow ", "‖": r"\|", "½": r"\tfrac{1}{2}", "…": r"\dots ", "≈": r"\approx ",
    "≤": r"\le ", "≥": r"\ge ", "∇": r"\nabla ", "≡": r"\equiv ", "∈": r"\in ", "²": "^{2}", "³": "^{3}",
    "√": r"\sqrt ", "ln ": r"\ln ", "softmax": r"\operatorname{softmax}", "E_in": r"E_{\mathrm{in}}",
    "≠": r"\neq ", "∞": r"\infty ", "%": r"\%", "#": r"\#", "&": r"\&", "—": "-", "–": "-",
}
_MATH_KEYS = re.compile("|".join(re.escape(k) for k in sorted(_MATH, key=len, reverse=True)))
_TEXT_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "—": "---", "–": "--", "“": "``", "”": "''", "’": "'", "‘": "`", " ": "~"}
_FORMULA_CHARS = set("^_") | {k for k in _MATH if len(k) == 1 and k not in "%#&—–"}


def tex_math(formula: str) -> str:
    """A Unicode formula of the explain views as LaTeX math (without the surrounding ``$``)."""
    s = re.sub(r"(?<=\S)  +(?=\S)", r" \\quad ", formula.strip())   # the views' wide gaps between formulas
    s = re.sub(r"(?<=\S)  +", " ", _MATH_KEYS.sub(lambda m: _MATH[m.group(0)], s))
    s = re.sub(r"\^\(([^()]*)\)", r"^{(\1)}", s)            # x^(ℓ−1) → x^{(\ell-1)}
    s = re.sub(r"\^([A-Za-z0-9]+)", r"^{\1}", s)             # w^12 → w^{12}
    s = re.sub(r"_([A-Za-z0-9]+)", r"_{\1}", s)              # w_jk → w_{jk}
    return s


def tex_text(text: str) -> str:
    """Prose for LaTeX: special characters escaped, formula-like words (with ^, _, Greek, ∂ …) set in math."""
    words = []
    for word in re.split(r"(\s+)", text):
        if word.isspace() or not word:
            words.append(word)
        elif any(c in _FORMULA_CHARS for c in word):
            words.append(f"${tex_math(word)}$")
        else:
            words.append("".join(_TEXT_SPECIAL.get(c, c) for c in word))
    return "".join(words)


class Math(str):
    """A formula inside a ``Rich`` line: set as math in Markdown and LaTeX, printed as-is in text."""


Rich = Sequence[str]      # prose (str) and formulas (Math), concatenated


def rich_text(parts: Rich | str) -> str:
    return "".join(_rich_parts(parts))


def _rich_parts(parts: Rich | str) -> list[str]:
    return [parts] if isinstance(parts, str) else list(parts)


def rich_markdown(parts: Rich | str) -> str:
    return "".join(f"${tex_math(p).strip()}$" if isinstance(p, Math) else _md_escape(p) for p in _rich_parts(parts))


def rich_latex(parts: Rich | str) -> str:
    return "".join(f"${tex_math(p).strip()}$" if isinstance(p, Math) else tex_text(p) for p in _rich_parts(parts))


def _md_escape(text: str) -> str:
    return re.sub(r"([*_`|\\$<>])", r"\\\1", text)


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return fmt


# --------------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------------
@dataclass
class Table:
    """A table of strings with a header row; columns in ``align_right`` are right-aligned (numbers)."""

    head: Sequence[str]
    rows: Sequence[Sequence[str]] = field(default_factory=list)
    align_right: Sequence[int] = ()

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.head):
                raise ValueError(f"Table: a row has {len(row)} cells, the header {len(self.head)}")

    def __str__(self) -> str:
        return self.text()

    def render(self, fmt: str = "text") -> str:
        """The table in ``fmt``: "text", "markdown" or "latex"."""
        return {"text": self.text, "markdown": self.markdown, "latex": self.latex}[check_format(fmt)]()

    def text(self) -> str:
        rows = [tuple(self.head), *map(tuple, self.rows)]
        lines = aligned(rows, self.align_right)
        return "\n".join([lines[0], rule(rows), *lines[1:]])

    def markdown(self) -> str:
        cell = lambda c: c.replace("|", r"\|") or " "     # noqa: E731
        rule = ["---:" if i in self.align_right else ":---" for i in range(len(self.head))]
        return "\n".join("| " + " | ".join(r) + " |" for r in
                         [[cell(c) for c in self.head], rule, *[[cell(c) for c in row] for row in self.rows]])

    def latex(self) -> str:
        spec = "".join("r" if i in self.align_right else "l" for i in range(len(self.head)))
        body = [" & ".join(tex_text(c) for c in row) + r" \\" for row in self.rows]
        return "\n".join([rf"\begin{{tabular}}{{{spec}}}", r"\hline",
                          " & ".join(tex_text(c) for c in self.head) + r" \\", r"\hline", *body, r"\hline",
                          r"\end{tabular}"])


def latex_document(body: str) -> str:
    """A complete LaTeX document around a fragment (what ``standalone=True`` returns)."""
    return "\n".join([r"\documentclass{article}", r"\usepackage[margin=1.5cm,landscape]{geometry}",
                      r"\usepackage{amsmath,amssymb}", r"\setcounter{MaxMatrixCols}{20}", r"\begin{document}",
                      r"\small", body, r"\end{document}", ""])


def tex_matrix(a: ArrayLike, digits: int = 4, limit: int = 8) -> str:
    """A vector (as a column) or matrix as ``bmatrix``, long axes elided with dots."""
    m = np.asarray(a)
    m = m.reshape(-1, 1) if m.ndim < 2 else m
    rows = _keep(m.shape[0], limit)
    cols = _keep(m.shape[1], limit)

    def cell(i: int | None, j: int | None) -> str:
        if i is None:
            return r"\vdots" if j is not None else r"\ddots"
        return r"\cdots" if j is None else _tex_number(m[i, j], digits)

    return (r"\begin{bmatrix}" + r" \\ ".join(" & ".join(cell(i, j) for j in cols) for i in rows)
            + r"\end{bmatrix}")


def _tex_number(v: float, digits: int) -> str:
    s = f"{v:.{digits}g}"
    if "e" in s:
        mant, exp = s.split("e")
        return rf"{mant}\times 10^{{{int(exp)}}}"
    return s


def _keep(count: int, limit: int) -> list[int | None]:
    """Indices to print: all, or the first few and the last two with None for the gap."""
    if count <= limit:
        return list(range(count))
    head = max(limit - 3, 1)
    return list(range(head)) + [None] + list(range(count - 2, count))
