"""Where data set files are looked for, and verified downloads.

Local files are searched, when no ``path`` is given, in this order:

1. the directory in the environment variable ``GLASSGRAD_DATA``
   (several directories may be joined with ``os.pathsep``);
2. ``../shared/data`` relative to the current directory;
3. the cache directory, ``cache_dir`` or ``$XDG_CACHE_HOME/glassgrad/<name>``
   (``~/.cache/glassgrad/<name>`` by default).
"""
from __future__ import annotations

import os
from pathlib import Path


class ChecksumError(ValueError):
    """A downloaded file's sha256 differs from the expected one."""



def _default_cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(base).expanduser() / "glassgrad" / name


def _search_dirs(name: str, cache_dir: str | os.PathLike | None) -> list[Path]:
    """Directories to search, in order: $GLASSGRAD_DATA, ./../shared/data, the cache dir."""
    dirs = [Path(p).expanduser() for p in os.environ.get("GLASSGRAD_DATA", "").split(os.pathsep) if p]
    dirs.append(Path.cwd().parent / "shared" / "data")
    dirs.append(Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir(name))
    return dirs


def _download_file(url: str, dest: Path, expected_sha256: str | None, timeout: float) -> None:
    """Stream ``url`` into ``dest`` atomically (temp file, then ``os.replace``), checking its sha256."""
    import hashlib
    import tempfile
    import urllib.error
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    while chunk := resp.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
            except (urllib.error.URLError, OSError) as exc:
                raise OSError(f"could not download {url}: {exc}") from exc
        got = digest.hexdigest()
        if expected_sha256 is not None and got != expected_sha256.lower():
            raise ChecksumError(
                f"checksum mismatch for {dest.name} (downloaded from {url}): "
                f"expected sha256 {expected_sha256.lower()}, got {got}; the file was deleted"
            )
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _sha256_file(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
