"""What every ``glassgrad`` command shares: its parser class, the checked number types of its flags, and
``UsageError`` — the one way a command reports a user error (one line, exit status 2).

A flag's value is checked when the command line is parsed, so a bad one is refused before anything
runs; a saved setting (a checkpoint's, on ``--resume``) is checked by the same functions (``checked``).
"""
from __future__ import annotations

import argparse
import math
from typing import Any, Callable, NoReturn


class UsageError(Exception):
    """A user error: printed as ``<prog>: error: <message>`` on one line; the command exits with status 2."""

    def __init__(self, message: str, prog: str | None = None):
        super().__init__(" ".join(str(message).split()))   # one line, whatever the message held
        self.prog = prog


def cannot_write(flag: str, path: object, error: OSError) -> UsageError:
    """The one-line error for an output the machine refused (no folder, a file in the way, permissions, disk
    full): names the flag and the path, and says what to do."""
    return UsageError(f"{flag} {path}: cannot write it ({error.strerror or error}); give a file in a folder you "
                      "can write to")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, False, suppressed)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default is None or default is False or default is argparse.SUPPRESS or default == []:
            return text
        if not action.option_strings and action.nargs not in ("?", "*"):
            return text
        return f"{text} (default: %(default)s)"


class Parser(argparse.ArgumentParser):
    """``glassgrad``'s parser (and, through ``add_subparsers``, every sub-command's): defaults shown in
    ``--help``, a ``--debug`` flag, and errors raised as ``UsageError`` (printed as one line by ``main``)."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)
        self.set_defaults(prog=self.prog)       # the deepest sub-command's name, for its error messages
        self.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                          help="show the Python traceback of an error, for a bug report (or set GLASSGRAD_DEBUG=1)")

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)", self.prog)


def number(kind: type, low: float | None = None, high: float | None = None, *, low_open: bool = False,
           high_open: bool = True) -> Callable[[str], Any]:
    """An argparse ``type``: text → ``kind`` (int or float), finite and within the bounds, else an
    ``ArgumentTypeError`` that says what is allowed."""
    what = "a whole number" if kind is int else "a finite number"
    bounds = []
    if low is not None:
        bounds.append(f"{'>' if low_open else '>='} {low:g}")
    if high is not None:
        bounds.append(f"{'<' if high_open else '<='} {high:g}")
    allowed = what + (" " + " and ".join(bounds) if bounds else "")

    def convert(text: str) -> Any:
        try:
            value = kind(text) if kind is float else int(str(text), 10)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"must be {allowed}, not {text!r}") from None
        bad = ((kind is float and not math.isfinite(value))
               or (low is not None and (value <= low if low_open else value < low))
               or (high is not None and (value >= high if high_open else value > high)))
        if bad:
            raise argparse.ArgumentTypeError(f"must be {allowed}, not {text!r}")
        return value

    convert.__name__ = allowed
    return convert


COUNT = number(int, 1)                                   # sizes, epochs, batch sizes
NON_NEGATIVE_INT = number(int, 0)                        # seeds, limits, steps
POSITIVE = number(float, 0, low_open=True)               # learning rates, ε
NON_NEGATIVE = number(float, 0)                          # L2 λ
FRACTION = number(float, 0, 1)                           # momentum: [0, 1)
REAL = number(float)                                     # any finite value


def device_flag(text: str) -> Any:
    """An argparse ``type`` for ``--device``: ``cpu``, ``cuda`` or ``cuda:N`` → a ``gg.Device``, refused at parse
    time when it names a GPU this machine cannot use (the message gives the install line)."""
    from glassgrad import cuda
    from glassgrad.device import device

    try:
        chosen = device(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be cpu, cuda or cuda:N (N a GPU index), not {text!r}") from None
    if chosen.type == "cuda":
        count = cuda.device_count()
        if count == 0:
            raise argparse.ArgumentTypeError(f"{text!r}: CUDA is not available on this machine (it needs an NVIDIA "
                                             'GPU with its driver and CuPy: pip install "glassgrad[cuda]"); use '
                                             "--device cpu")
        if chosen.index is not None and chosen.index >= count:
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {count} GPU(s), cuda:0 to cuda:{count - 1}")
    return chosen


def checked(flag: str, convert: Callable[[str], Any], value: Any) -> Any:
    """A saved setting checked as its flag would be (``UsageError`` naming the flag otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{flag} is {value!r}, not a number")
    try:
        return convert(repr(value) if isinstance(value, float) else str(value))
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"{flag} {e}") from None
