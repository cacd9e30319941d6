"""argparse value types shared by ``parsync`` and the conformance pytest plugin.

Each raises ``argparse.ArgumentTypeError`` with a one-line reason, which both
argparse and pytest's option parser print as a usage error (exit 2 / 4),
never a traceback.
"""

from __future__ import annotations

import argparse


def _number(text: str, kind: type[int] | type[float], what: str) -> int | float:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def positive_int(text: str) -> int:
    v = int(_number(text, int, "a positive integer"))
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def workers(text: str) -> int:
    """``N`` processes (at most 256), or ``auto``: one per core this process may use."""
    if text == "auto":
        import os

        return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)
    v = int(_number(text, int, "a number of worker processes or 'auto'"))
    if not 1 <= v <= 256:
        raise argparse.ArgumentTypeError(f"expected 1 to 256 worker processes, got {text!r}")
    return v


def seed(text: str) -> int:
    v = int(_number(text, int, "an integer seed"))
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected a seed >= 0, got {text!r}")
    return v


def positive_float(text: str) -> float:
    v = float(_number(text, float, "a positive number"))
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def seconds(text: str) -> float:
    v = float(_number(text, float, "seconds"))
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return v
