"""One way to ask Z3: ``check(solver, *assumptions)``, with Ctrl-C made a Ctrl-C.

Left alone, Z3 traps SIGINT while it solves: the query returns ``unknown``
("interrupted from keyboard") instead of Python raising ``KeyboardInterrupt``,
and when the query finishes anyway the signal is simply lost. Read as an
ordinary unknown, an interrupted proof could be retried, or counted as a
failure, and the run would go on (and end "proved").

So the first query switches Z3's own handler off (``ctrl_c=false``) and lets
Python keep SIGINT: a helper thread, woken through ``signal.set_wakeup_fd``,
cancels the running query (``Context.interrupt``, thread-safe). While a query
runs, or while Python runs a destructor or Z3's ctypes error callback (where
an exception is printed as "Exception ignored ... Traceback" and dropped),
SIGINT only sets a flag, and :func:`check` raises ``KeyboardInterrupt`` once
the query has returned (or before the next one); elsewhere it raises at once.
It also maps Z3's own interrupted answer to ``KeyboardInterrupt``, should Z3
trap the signal after all. The commands then report the run as interrupted
(exit 3), never as a result.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.errors import z3_interrupted

_installed = False
_active = False  # SIGINT goes through _on_sigint (install_interrupt succeeded)
_in_check = False  # a query is running: the watcher cancels it
_requested = False  # Ctrl-C came; raised at the next safe point if not at once

#: Functions a KeyboardInterrupt must not be raised in: Python prints and drops an
#: exception from a destructor or a ctypes callback ("Exception ignored in ...").
_UNSAFE_FRAMES = frozenset({"__del__", "z3_error_handler"})


def _on_sigint(_sig: int, frame: FrameType | None) -> None:
    """Ctrl-C: remember it; raise now unless a query runs (the watcher cancels it and
    :func:`check` raises when it returns) or Python would drop the exception."""
    global _requested
    _requested = True
    if _in_check:
        return
    f = frame
    for _ in range(8):
        if f is None:
            break
        if f.f_code.co_name in _UNSAFE_FRAMES or "z3" in Path(f.f_code.co_filename).parts:
            # a destructor, a ctypes callback, or z3's own Python layer (an exception
            # there can leave a half-built object, or surface as ctypes.ArgumentError):
            # raised by the next check() instead
            return
        f = f.f_back
    raise KeyboardInterrupt


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:  # pragma: no cover - the pipe went away at exit
            return
        if not data:  # pragma: no cover
            return
        # SIGTERM too: the console entry point takes it as a Ctrl-C (parsync.cli.run)
        if (signal.SIGINT in data or signal.SIGTERM in data) and _in_check:
            z3.main_ctx().interrupt()


def is_z3_destructor_noise(u: Any) -> bool:
    """An unraisable error from a z3 ``__del__`` after Ctrl-C. A Ctrl-C raised while
    z3's Python layer builds an object (between its allocation and ``self.ctx = ...``)
    leaves a half-built object whose ``__del__`` then fails with AttributeError, which
    Python prints as "Exception ignored in ... Traceback": after Ctrl-C, noise."""
    obj = u.object
    return bool(
        _requested
        and getattr(obj, "__name__", "") == "__del__"
        and str(getattr(obj, "__module__", "")).startswith("z3")
    )


def install_interrupt() -> None:
    """Route SIGINT through :func:`_on_sigint` and cancel a running Z3 query on it
    (once, from the main thread, and only where SIGINT has Python's default handler)."""
    global _installed, _active
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    _installed = True
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return  # someone else (a test runner, an embedding program) owns SIGINT
    z3.set_param("ctrl_c", False)
    r, w = os.pipe()
    os.set_blocking(w, False)
    try:
        signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except ValueError:  # pragma: no cover - not the main thread of the main interpreter
        return
    threading.Thread(target=_watch, args=(r,), name="z3-interrupt", daemon=True).start()
    signal.signal(signal.SIGINT, _on_sigint)
    previous = sys.unraisablehook

    def quiet_z3_destructors(u: Any) -> None:
        if not is_z3_destructor_noise(u):
            previous(u)

    sys.unraisablehook = quiet_z3_destructors
    _active = True


def check(solver: z3.Solver, *assumptions: Any) -> Any:
    """``solver.check(*assumptions)``; raises KeyboardInterrupt when Ctrl-C stopped it."""
    global _in_check
    if not _installed:
        install_interrupt()
    if _requested:
        raise KeyboardInterrupt
    if _active:
        solver.set("ctrl_c", False)  # a solver made before install_interrupt keeps Z3's own
        _in_check = True
        try:
            r = solver.check(*assumptions)
        except z3.Z3Exception:
            if _requested:  # the watcher cancelled the query
                raise KeyboardInterrupt from None
            raise
        finally:
            _in_check = False
        if _requested:
            raise KeyboardInterrupt
    else:
        r = solver.check(*assumptions)
    if r == z3.unknown and z3_interrupted(solver.reason_unknown()):
        raise KeyboardInterrupt
    return r
