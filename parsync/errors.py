"""The exit codes of every ``parsync`` command and the two ways a command stops early.

========= ===============================================================
exit code meaning
========= ===============================================================
0         pass: the checked properties hold (the gate: safe)
1         fail: a property is violated, or the scope is vacuous (unsafe)
2         usage or set-up error: one line on stderr, never a traceback
3         stopped: a budget ran out or Ctrl-C interrupted it; the partial
          result is printed and is never reported as a pass
========= ===============================================================
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_STOPPED = 3


class UsageError(Exception):
    """Bad usage or bad input: the CLI prints it as one line, exit 2."""


class Interrupted(Exception):
    """Ctrl-C stopped a command; the message is the partial result, one line (exit 3).

    Engines catch ``KeyboardInterrupt`` (and Z3's "interrupted from keyboard")
    where they can still say what was done; the command raises this with that
    summary once it has printed (or declined to write) its partial output.
    """


#: Z3 handles SIGINT itself during a query: the query returns ``unknown`` with
#: this reason instead of Python seeing KeyboardInterrupt (a timeout says "timeout").
Z3_INTERRUPT_REASON = "interrupted from keyboard"


def z3_interrupted(reason: object) -> bool:
    """Whether a Z3 ``reason_unknown()`` means Ctrl-C stopped the query."""
    return Z3_INTERRUPT_REASON in str(reason)


def z3_exception_interrupted(e: BaseException) -> bool:
    """Whether a ``Z3Exception`` is Z3 reporting Ctrl-C (outside a check it says "canceled")."""
    text = str(e)
    return Z3_INTERRUPT_REASON in text or "canceled" in text


__all__ = [
    "EXIT_FAIL",
    "EXIT_OK",
    "EXIT_STOPPED",
    "EXIT_USAGE",
    "Interrupted",
    "UsageError",
    "z3_exception_interrupted",
    "z3_interrupted",
]
