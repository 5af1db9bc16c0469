"""One text-table helper: rows of strings padded into aligned columns (the views, reports and metrics use it)."""
from __future__ import annotations

from typing import Container, Sequence


def aligned(rows: Sequence[Sequence[str]], align_right: Container[int] | bool = (), sep: str = "  ") -> list[str]:
    """Each row as one line, every column padded to its widest cell and joined by ``sep``. Columns whose
    index is in ``align_right`` (all of them when it is True: numbers) are right-aligned, the others left;
    trailing spaces are dropped."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = (lambda i: True) if align_right is True else (lambda i: i in align_right)  # type: ignore[operator]
    return [sep.join(c.rjust(w) if right(i) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
            for row in rows]


def rule(rows: Sequence[Sequence[str]], sep: str = "  ") -> str:
    """The dashes under a header, one run per column as wide as the column."""
    return sep.join("-" * max(len(row[i]) for row in rows) for i in range(len(rows[0])))
