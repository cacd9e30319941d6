"""One way to ask Z3: ``check(solver, *assumptions)``, with Ctrl-C made a Ctrl-C.

Left alone, Z3 traps SIGINT while it solves: the query returns ``unknown``
("interrupted from keyboard") instead of Python raising ``KeyboardInterrupt``,
and when the query finishes anyway the signal is simply lost. Read as an
ordinary unknown, an interrupted proof could be retried, or counted as a
failure, and the run would go on (and end "proved").

So the first query switches Z3's own handler off (``ctrl_c=false``) and lets
Python keep SIGINT: a helper thread, woken through ``signal.set_wakeup_fd``,
cancels the running query (``Context.interrupt``, thread-safe), and Python
raises ``KeyboardInterrupt`` as soon as the query returns. :func:`check` also
maps Z3's interrupted answer to ``KeyboardInterrupt``, should Z3 trap the
signal after all. The commands then report the run as interrupted (exit 3),
never as a result.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.errors import z3_interrupted

_installed = False


def _watch(fd: int) -> None:
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:  # pragma: no cover - the pipe went away at exit
            return
        if not data:  # pragma: no cover
            return
        if signal.SIGINT in data:
            z3.main_ctx().interrupt()


def install_interrupt() -> None:
    """Route SIGINT to Python and cancel the running Z3 query on it (once, main thread)."""
    global _installed
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


def check(solver: z3.Solver, *assumptions: Any) -> Any:
    """``solver.check(*assumptions)``; raises KeyboardInterrupt when Ctrl-C stopped it."""
    if not _installed:
        install_interrupt()
    r = solver.check(*assumptions)
    if r == z3.unknown and z3_interrupted(solver.reason_unknown()):
        raise KeyboardInterrupt
    return r
