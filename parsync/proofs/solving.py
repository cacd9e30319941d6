"""One way to ask Z3: ``check(solver, *assumptions)``, with Ctrl-C made a Ctrl-C.

Z3 traps SIGINT while it solves and returns ``unknown`` ("interrupted from
keyboard") instead of letting Python raise ``KeyboardInterrupt``; read as an
ordinary unknown, an interrupted proof could be retried, or counted as a
failure, and the run would go on. Every query of the Z3 engines goes through
:func:`check`, which turns that answer back into ``KeyboardInterrupt`` so the
commands stop and report the run as interrupted (exit 3), never as a result.
"""

from __future__ import annotations

from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.errors import z3_interrupted


def check(solver: z3.Solver, *assumptions: Any) -> Any:
    """``solver.check(*assumptions)``; raises KeyboardInterrupt when Ctrl-C stopped it."""
    r = solver.check(*assumptions)
    if r == z3.unknown and z3_interrupted(solver.reason_unknown()):
        raise KeyboardInterrupt
    return r
