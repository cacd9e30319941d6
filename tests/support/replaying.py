"""Replaying a checker's counterexample in the model it came from."""

from __future__ import annotations

from parsync.engines.checker import CheckResult
from parsync.model.properties import action_violations, state_violations
from parsync.model.protocol import ParSyncModel


def replay_violations(m: ParSyncModel, r: CheckResult) -> set[str]:
    """The counterexample is a real run of ``m``: the properties its last step breaks."""
    assert r.violation is not None
    s = m.init_state()
    last = None
    for a in r.violation.trace.actions:
        t = m.step(s, a)
        assert t is not None, a
        last, s = (s, a, t), t
    assert last is not None
    return {*state_violations(m, s), *action_violations(m, *last)}
