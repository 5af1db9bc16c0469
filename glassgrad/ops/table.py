"""The gate tables of the docs, generated from ``glassgrad.engine.GATES`` so they cannot drift.

``python -m glassgrad.ops.table`` rewrites the marked tables in ``glassgrad/ops/__init__.py`` (which file
holds which gates) and ``docs/engine.md`` (every gate: signature and derivative rule); ``--check`` only
reports whether they are current (the test suite runs the same check).
"""
from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from pathlib import Path

import glassgrad.ops  # noqa: F401  registers every gate
from glassgrad.engine import GATES, Gate

BEGIN = "<!-- gate table: generated from GATES by `python -m glassgrad.ops.table`; do not edit by hand -->"
END = "<!-- end of gate table -->"
ROOT = Path(__file__).resolve().parents[2]


def _file(g: Gate) -> str:
    return g.module.rsplit(".", 1)[-1] + ".py"


# The files in the tables' order: from the elementary gates to the composite ones, as they were once imported.
# (conv.py and linalg_decomp.py are imported on first use, so GATES's own order depends on what ran first.) A
# file not named here comes after these.
FILE_ORDER = ("elementwise.py", "shape.py", "reduce.py", "linalg.py", "conv.py", "softmax.py", "fused.py",
              "linalg_decomp.py", "norm.py", "indexing.py", "einsum.py", "math.py")


def _by_file() -> dict[str, list[Gate]]:
    files: dict[str, list[Gate]] = {}
    for g in GATES.values():
        if g.module.startswith("glassgrad.ops."):
            files.setdefault(_file(g), []).append(g)
    rank = {f: i for i, f in enumerate(FILE_ORDER)}
    return dict(sorted(files.items(), key=lambda item: rank.get(item[0], len(rank))))


def files_table(width: int = 100) -> str:
    """Which file of ``glassgrad/ops`` declares which gates (a text table for the package docstring)."""
    files = _by_file()
    first = max(len("file"), *(len(f) for f in files))
    rows = []
    for f, gates in files.items():
        lines = textwrap.wrap(" ".join(g.name for g in gates), width - first - 7) or [""]
        rows += [(f if i == 0 else "", line) for i, line in enumerate(lines)]
    second = max(len("gates"), *(len(line) for _, line in rows))
    rule = f"|{'-' * (first + 2)}|{'-' * (second + 2)}|"
    out = [f"| {'file'.ljust(first)} | {'gates'.ljust(second)} |", rule]
    out += [f"| {f.ljust(first)} | {line.ljust(second)} |" for f, line in rows]
    return "\n".join(out)


def _parameters(g: Gate) -> str:
    """The forward's parameters and defaults, without their annotations (they would crowd the table)."""
    if g.signature is None:
        return "(...)"
    return str(g.signature.replace(
        parameters=[p.replace(annotation=inspect.Parameter.empty) for p in g.signature.parameters.values()],
        return_annotation=inspect.Signature.empty))


def rules_table() -> str:
    """Every gate with its signature and derivative rule (a Markdown table for docs/engine.md)."""
    out = ["| gate | file | derivative rule (VJP) and subgradient choices |", "|---|---|---|"]
    for f, gates in _by_file().items():
        for g in gates:
            doc = " ".join(g.doc.split()).replace("|", "\\|")
            out.append(f"| `{g.name}{_parameters(g)}` | `ops/{f}` | {doc} |")
    return "\n".join(out)


def _replace(text: str, table: str, where: str) -> str:
    if BEGIN not in text or END not in text:
        raise ValueError(f"{where}: the markers of the generated gate table are missing ({BEGIN!r} … {END!r})")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def targets() -> dict[Path, str]:
    """Each file with a generated table, and its text as it should be."""
    ops_init = ROOT / "glassgrad" / "ops" / "__init__.py"
    engine_md = ROOT / "docs" / "engine.md"
    return {ops_init: _replace(ops_init.read_text(encoding="utf-8"), files_table(), str(ops_init)),
            engine_md: _replace(engine_md.read_text(encoding="utf-8"), rules_table(), str(engine_md))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m glassgrad.ops.table", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report whether the tables are current")
    args = parser.parse_args(argv)
    stale = [p for p, text in targets().items() if p.read_text(encoding="utf-8") != text]
    if args.check:
        for p in stale:
            print(f"{p}: gate table out of date; run python -m glassgrad.ops.table", file=sys.stderr)
        return 1 if stale else 0
    for p, text in targets().items():
        if p in stale:
            p.write_text(text, encoding="utf-8")
            print(f"rewrote the gate table in {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
