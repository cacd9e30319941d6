"""One-line bugs in the Z3 encoding's claim counter (``used-counts-claims``, issue 17).

The review's bugs (``review_bugs.py``) change ``model/protocol.py`` and leave the
encoding as it is; these do the opposite: each replaces one method of
:class:`~parsync.proofs.encoding.Encoding` with a wrapper that gets the variant's
claim counter ``nclaims`` wrong (how Commit or Release moves it, or which value a
read reports), and leaves the Python model as it is. The tie
(``parsync/proofs/tie.py``) must notice that the two statements now differ, on the
``sizes`` shape (a size-2 need on a bucket of capacity 2), naming the action.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.proofs.encoding import Encoding

E = Encoding
_orig_commit_fn = E._commit_fn
_orig_release = E._release
_orig_refresh = E.refresh


@dataclass(frozen=True)
class EncodingBug:
    name: str
    text: str
    methods: Callable[[], dict[str, Any]]
    # the model action whose step the tie must name (its name in fmt_action)
    action: str


def _commit_adds_size() -> dict[str, Any]:
    def _commit_fn(self: Any, kind: str) -> Any:
        build = _orig_commit_fn(self, kind)

        def wrapped(S: Any, T: Any, p: Any) -> Any:
            guard, upd = build(S, T, p)
            if "nclaims" in upd:  # the bug: the counter gains the need's size, as used does
                K, m = self.K, p["m"]
                size = K.size(K.p_n(m))
                upd["nclaims"] = lambda b: S.nclaims(b) + z3.If(K.p_tch(m, b), size, 0)
            return guard, upd

        return wrapped

    return {"_commit_fn": _commit_fn}


def _release_keeps_count() -> dict[str, Any]:
    def _release(self: Any, S: Any, T: Any, p: Any) -> Any:
        guard, upd = _orig_release(self, S, T, p)
        upd.pop("nclaims", None)  # the bug: the counter is left as it was
        return guard, upd

    return {"_release": _release}


def _read_reports_used() -> dict[str, Any]:
    def refresh(self: Any, rec: Any, S: Any, sel: Any, at: Any) -> None:
        saved = self.v_count_claims
        self.v_count_claims = False  # the bug: a read reports used, not the counter
        try:
            _orig_refresh(self, rec, S, sel, at)
        finally:
            self.v_count_claims = saved

    return {"refresh": refresh}


BUGS: tuple[EncodingBug, ...] = (
    EncodingBug(
        "commit-counts-size",
        "Commit raises the claim counter by the need's size instead of one",
        _commit_adds_size,
        "Commit",
    ),
    EncodingBug(
        "release-keeps-count",
        "Release leaves the claim counter as it was",
        _release_keeps_count,
        "Release",
    ),
    EncodingBug(
        "read-reports-used",
        "a read puts used into the view, not the claim counter",
        _read_reports_used,
        # the first read of the bucket after the size-2 commit: the other worker's forced
        # re-read on a Conflict (sizes-2 has one cycle per worker)
        "HandleReply",
    ),
)


@contextmanager
def applied(bug: EncodingBug) -> Iterator[None]:
    """``Encoding`` with the bug in it, for the duration of the block."""
    saved = {k: E.__dict__[k] for k in bug.methods()}
    try:
        for k, f in bug.methods().items():
            setattr(E, k, f)
        yield
    finally:
        for k, f in saved.items():
            setattr(E, k, f)
