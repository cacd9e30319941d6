"""One way to ask Z3: ``check(solver, *assumptions)``, with Ctrl-C made a Ctrl-C.

Left alone, Z3 traps SIGINT while it solves: the query returns ``unknown``
("interrupted from keyboard") instead of Python raising ``KeyboardInterrupt``,
and when the query finishes anyway the signal is simply lost. Read as an
ordinary unknown, an interrupted proof could be retried, or counted as a
failure, and the run would go on (and end "proved").

So the first query switches Z3's own handler off (``ctrl_c=false``) and lets
Python keep SIGINT: a helper thread, woken through ``signal.set_wakeup_fd``,
cancels the running query (``Context.interrupt``, thread-safe). While a query
runs, SIGINT only sets a flag (raising inside one of Z3's ctypes callbacks
would print "Exception ignored ... Traceback" and be lost); :func:`check`
raises ``KeyboardInterrupt`` once the query has returned (or failed with
"canceled"). It also maps Z3's own interrupted answer to ``KeyboardInterrupt``,
should Z3 trap the signal after all. The commands then report the run as
interrupted (exit 3), never as a result.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.errors import z3_interrupted

_installed = False
_active = False  # SIGINT is routed through the watcher (install_interrupt succeeded)
_in_check = False  # a query is running: the watcher may cancel it


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:  # pragma: no cover - the pipe went away at exit
            return
        if not data:  # pragma: no cover
            return
        if signal.SIGINT in data and _in_check:
            z3.main_ctx().interrupt()


def install_interrupt() -> None:
    """Route SIGINT to Python and cancel the running Z3 query on it (once, main thread)."""
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
    _active = True


def check(solver: z3.Solver, *assumptions: Any) -> Any:
    """``solver.check(*assumptions)``; raises KeyboardInterrupt when Ctrl-C stopped it."""
    global _in_check
    if not _installed:
        install_interrupt()
    if not _active or threading.current_thread() is not threading.main_thread():
        r = solver.check(*assumptions)
    else:
        solver.set("ctrl_c", False)  # a solver made before install_interrupt keeps Z3's own
        hit: list[int] = []
        previous = signal.signal(signal.SIGINT, lambda sig, _frame: hit.append(sig))
        _in_check = True
        try:
            r = solver.check(*assumptions)
        except z3.Z3Exception:
            if hit:  # the query was cancelled by the watcher
                raise KeyboardInterrupt from None
            raise
        finally:
            _in_check = False
            signal.signal(signal.SIGINT, previous)
        if hit:
            raise KeyboardInterrupt
    if r == z3.unknown and z3_interrupted(solver.reason_unknown()):
        raise KeyboardInterrupt
    return r
