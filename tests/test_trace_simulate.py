"""The trace generator: its cheap enumeration of enabled actions is the model's own, and a
seed gives the walk over ``ParSyncModel.successors`` it always gave (same events)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from test_trace_validate import SCOPES as VALIDATE_SCOPES

from parsync.model.actions import Crash, Drop, Duplicate, Failover, Release
from parsync.model.config import Config
from parsync.model.protocol import ParSyncModel
from parsync.model.state import PLACED
from parsync.traces.simulate import _Ids, enabled, event_of, header, long_config, simulate

_FAULTS = (Crash, Drop, Duplicate, Failover)
SCOPES = dict(VALIDATE_SCOPES)
SCOPES["long"] = long_config(needs=30)


def _reference_walk(
    config: Config, *, seed: int, steps: int, fault_rate: float, release_rate: float = 0.3
) -> Iterator[dict[str, Any]]:
    """The walk as first written: draw among every successor ``ParSyncModel.successors`` builds."""
    rng = random.Random(seed)
    m = ParSyncModel(config)
    s = m.init_state()
    ids = _Ids()
    yield header(config, source=f"model random walk (seed {seed})", hidden=[])
    for _ in range(steps):
        moves = list(m.successors(s))
        if not moves:
            return
        faults = [x for x in moves if isinstance(x[0], _FAULTS)]
        releases = [x for x in moves if isinstance(x[0], Release)]
        rest = [x for x in moves if not isinstance(x[0], (*_FAULTS, Release))]
        r = rng.random()
        if faults and (r < fault_rate or not (rest or releases)):
            a, t = rng.choice(faults)
        elif releases and (r < fault_rate + release_rate or not rest):
            a, t = rng.choice(releases)
        else:
            a, t = rng.choice(rest)
        yield event_of(m, s, a, t, ids)
        s = t


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_walk_is_the_successors_walk(scope: str) -> None:
    cfg = SCOPES[scope]
    for seed in range(4):
        kw: dict[str, Any] = {"seed": seed, "steps": 400, "fault_rate": 0.2}
        assert list(simulate(cfg, **kw)) == list(_reference_walk(cfg, **kw)), seed


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_enabled_lists_the_successors_actions(scope: str) -> None:
    cfg = SCOPES[scope]
    m = ParSyncModel(cfg)
    rng = random.Random(scope)
    for _ in range(3):
        s = m.init_state()
        for _ in range(300):
            placed = {n for n in range(m.N) if s.broker.status[n] == PLACED}
            faults, releases, rest = enabled(m, s, placed)
            moves = list(m.successors(s))
            acts = [a for a, _ in moves]
            assert faults == [a for a in acts if isinstance(a, _FAULTS)]
            assert releases == [a for a in acts if isinstance(a, Release)]
            assert rest == [a for a in acts if not isinstance(a, (*_FAULTS, Release))]
            if not moves:
                break
            s = rng.choice(moves)[1]
