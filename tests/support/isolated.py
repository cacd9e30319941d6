"""Run a Z3-heavy test body in a child process, so a crash of Z3 is a test failure.

Z3 is a C++ library: a bug in it (z3-solver segfaulted once in
``test_variant_fails_with_a_decoded_counterexample``) kills the whole pytest
process, losing every other result. :func:`isolated` runs the body in a forked
child; an assertion or exception there comes back with its traceback and fails
the test as usual, and a child killed by a signal fails the test with a message
naming the signal and the z3 version instead of taking pytest down.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import os
import signal
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

F = TypeVar("F", bound=Callable[..., Any])


def _child(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    try:
        fn(*args, **kw)
    except BaseException as e:  # noqa: BLE001 - everything goes back to the parent
        tb = "".join(traceback.format_exception(type(e), e, e.__traceback__))
        conn.send(("error", type(e).__name__, str(e), tb))
    else:
        conn.send(("ok", "", "", ""))
    finally:
        conn.close()


def run_isolated(fn: Callable[..., Any], *args: Any, timeout_s: float = 1800, **kw: Any) -> None:
    """``fn(*args, **kw)`` in a forked child: its failure is this test's failure, and
    a signal death (a Z3 crash) is a clear failure, never a crash of pytest."""
    if not hasattr(os, "fork"):  # no fork (Windows): run in process
        fn(*args, **kw)
        return
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(child, fn, args, kw))
    sys.stdout.flush()
    sys.stderr.flush()
    p.start()
    child.close()
    msg = None
    if parent.poll(timeout_s):
        try:
            msg = parent.recv()
        except EOFError:
            msg = None
    p.join(timeout=60 if msg is not None else 5)
    if p.is_alive():
        p.kill()
        p.join()
        if msg is None:
            pytest.fail(f"the isolated test body did not finish within {timeout_s:g} s")
    if msg is None:
        code = p.exitcode
        if code is not None and code < 0:
            import z3  # type: ignore[import-untyped]

            name = signal.Signals(-code).name
            pytest.fail(
                f"Z3 crashed: the test body died of {name} in a child process "
                f"(z3-solver {z3.get_version_string()}); the rest of the run is unaffected",
                pytrace=False,
            )
        pytest.fail(f"the isolated test body exited with code {code} without a result")
    kind, ename, text, tb = msg
    if kind == "error":
        if ename == "Skipped":
            pytest.skip(text)
        pytest.fail(f"{ename}: {text}\n\n(in the isolated child)\n{tb}", pytrace=False)


def isolated(fn: F) -> F:
    """Decorator: the test body runs under :func:`run_isolated`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> None:
        run_isolated(fn, *args, **kw)

    return wrapper  # type: ignore[return-value]
