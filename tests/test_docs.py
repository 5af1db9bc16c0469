"""Every ```python block in README.md and docs/*.md runs as written.

The blocks of one file run in order in one namespace (a later block may use what an earlier one defined),
in a fresh temporary working directory, so a doc change that breaks a snippet fails here. A failure names
the file, the block's number and its first line; the traceback's line numbers are the Markdown file's.
Use ```bash, ```text or another language for anything that is not meant to run as Python.
"""
from __future__ import annotations

import re
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)")


def shown(path: Path) -> str:
    """A doc file's name relative to the repository (as given when it lies elsewhere)."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@dataclass
class Block:
    path: Path
    number: int        # 1-based among the file's python blocks
    line: int          # 1-based line of the first code line
    source: str

    @property
    def where(self) -> str:
        return f"{shown(self.path)}: python block {self.number} (line {self.line})"


def python_blocks(path: Path) -> list[Block]:
    """The ```python blocks of a Markdown file, in order; an unclosed fence is an error."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, start = opening["fence"], i + 1
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = next((j for j in range(start, len(lines)) if closing.match(lines[j])), None)
        if end is None:
            raise AssertionError(f"{shown(path)}: the code fence opened on line {i + 1} is never closed")
        if opening["info"].lower() in ("python", "py", "python3"):
            indent = len(opening["indent"])
            body = [line[indent:] if line[:indent].isspace() else line for line in lines[start:end]]
            blocks.append(Block(path, len(blocks) + 1, start + 1, "\n".join(body) + "\n"))
        i = end + 1
    return blocks


def run_blocks(blocks: list[Block]) -> None:
    """Execute the blocks in order in one namespace; raise AssertionError naming the first that fails."""
    namespace: dict = {"__name__": "__docs__"}
    for block in blocks:
        # Pad with newlines so that the traceback's line numbers are the Markdown file's.
        code = "\n" * (block.line - 1) + block.source
        try:
            exec(compile(code, str(block.path), "exec"), namespace)
        except BaseException as e:  # noqa: BLE001 - SystemExit or KeyboardInterrupt from a snippet is a failure too
            if isinstance(e, KeyboardInterrupt):
                raise
            report = "".join(traceback.format_exception(type(e), e, e.__traceback__.tb_next))
            raise AssertionError(f"{block.where} failed:\n{report}") from None


@pytest.fixture
def docs_env(tmp_path, monkeypatch):
    """A fresh empty working directory, plots off-screen, the default seed restored after."""
    import glassgrad as gg

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield tmp_path
    gg.manual_seed(0)
    try:
        import matplotlib.pyplot as plt
        plt.close("all")
    except ImportError:
        pass


@pytest.mark.parametrize("path", DOC_FILES, ids=[shown(p) for p in DOC_FILES])
def test_every_python_block_of_the_file_runs_in_order(path, docs_env):
    blocks = python_blocks(path)
    if not blocks:
        pytest.skip(f"{shown(path)} has no python blocks")
    run_blocks(blocks)


def test_the_docs_have_python_blocks_to_run():
    counts = {shown(p): len(python_blocks(p)) for p in DOC_FILES}
    assert sum(counts.values()) > 0, counts
    assert counts["README.md"] > 0, counts


# ---- the extractor and the failure message themselves ---------------------------------------------
def test_extractor_finds_python_blocks_only_and_keeps_line_numbers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# title\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n\n~~~py\ny = x + 1\n~~~\n"
                    "````text\n```python\nnot code\n```\n````\n")
    blocks = python_blocks(page)
    assert [(b.number, b.line, b.source) for b in blocks] == [(1, 4, "x = 1\n"), (2, 12, "y = x + 1\n")]


def test_a_failing_block_is_named_with_file_block_and_markdown_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("intro\n\n```python\na = 1\n```\n\n```python\nb = a + 1\nundefined_name\n```\n")
    with pytest.raises(AssertionError) as e:
        run_blocks(python_blocks(page))
    message = str(e.value)
    assert "python block 2 (line 8) failed" in message
    assert "line 9" in message and "NameError" in message and "undefined_name" in message


def test_an_unclosed_fence_is_reported(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("```python\nx = 1\n")
    with pytest.raises(AssertionError, match="never closed"):
        python_blocks(page)
