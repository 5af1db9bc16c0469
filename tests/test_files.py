"""``write_atomically``, the one path every output file takes: whole or not at all."""
from __future__ import annotations

import os

import pytest

import glassgrad as gg
from glassgrad.files import write_atomically


def test_text_and_bytes_are_written_and_folders_made(tmp_path):
    assert write_atomically(tmp_path / "a" / "b.txt", "δ = ∂C/∂z") == tmp_path / "a" / "b.txt"
    assert (tmp_path / "a" / "b.txt").read_text(encoding="utf-8") == "δ = ∂C/∂z"
    write_atomically(tmp_path / "c.bin", b"\x00\x01", durable=True)
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "c.bin"]


def test_a_writer_that_fails_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "page.html"
    target.write_text("the previous page")

    def half_then_fail(f):
        f.write(b"<html>half a pa")
        raise KeyboardInterrupt            # Ctrl-C mid-write

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "the previous page"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_a_leftover_temporary_is_replaced_and_permissions_follow_the_umask(tmp_path):
    (tmp_path / "out.json.tmp").write_text("from a killed run")
    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "out.json", "{}")
    finally:
        os.umask(old)
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1.0])
def test_a_learning_rate_must_be_a_finite_number(lr):
    p = gg.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match=r"invalid learning rate \(lr\): .* \(must be a finite number >= 0\)"):
        gg.optim.SGD([p], lr=lr)
