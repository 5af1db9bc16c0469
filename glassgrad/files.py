"""Output files written whole or not at all.

Every file glassgrad writes (checkpoints, weights, pages, reports, summaries) goes through
``write_atomically``: the bytes go to ``<path>.tmp`` beside the target, which is then renamed over it, so a
crash or Ctrl-C mid-write leaves the previous file intact and at most that one temporary file (the next write
replaces it). A fixed temporary name, rather than a random one, is what keeps repeated crashes from piling
up leftovers.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike, data: bytes | str | Callable[[BinaryIO], object], *,
                     durable: bool = False) -> Path:
    """Write ``data`` (bytes, text as UTF-8, or a function that writes to the open binary file) to ``path``
    atomically; create missing parent folders; permissions follow the umask. ``durable``: also fsync the
    file and its folder, so the rename survives a power cut (checkpoints). Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)            # a leftover from an interrupted write (and its permissions)
    try:
        with open(tmp, "wb") as f:         # mode 0o666 minus the umask, like every other output
            if callable(data):
                data(f)
            else:
                f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        _sync_directory(path.parent)
    return path


def _sync_directory(folder: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
