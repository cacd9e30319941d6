"""Hypothesis settings profiles for the stateful engine: ``pr`` and ``nightly``.

Importing this module registers both profiles; it loads neither.
``tests/conftest.py`` loads ``pr`` as the default, and Hypothesis' own pytest
option selects another one::

    python -m pytest tests/test_stateful.py                              # pr
    python -m pytest tests/test_stateful.py --hypothesis-profile=nightly

(The plugin applies ``--hypothesis-profile`` in its ``pytest_configure``, which
runs after the initial conftest is imported, so the option always wins.)

Both profiles leave out ``Phase.explain``: on a state machine it re-runs the
shrunk counterexample once per step and multiplies shrink time, for a report
that the numbered step list in the failure message already gives. Neither has a
deadline: a step's cost depends on the state, not on the code being slow.

Both suppress two health checks, for reasons of the machine's shape rather than
of slow code: ``too_slow`` (a run replays tens of model steps), and
``filter_too_much``: Hypothesis' swarm testing switches off a random subset of
the rules for each run, and since only two to four action kinds are enabled in
a typical state, a run often reaches a state where every enabled kind is
switched off and is discarded. Typically about three runs in four end that way
(after checking every step they took); the valid ones are what
``max_examples`` counts.
"""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings

PR_PROFILE = "pr"
NIGHTLY_PROFILE = "nightly"
PROFILES: tuple[str, ...] = (PR_PROFILE, NIGHTLY_PROFILE)

SUPPRESSED: tuple[HealthCheck, ...] = (HealthCheck.too_slow, HealthCheck.filter_too_much)

# Every phase except explain, in Hypothesis' own order.
PHASES: tuple[Phase, ...] = tuple(p for p in Phase if p is not Phase.explain)

settings.register_profile(
    PR_PROFILE,
    phases=PHASES,
    deadline=None,
    max_examples=200,
    stateful_step_count=50,
    suppress_health_check=SUPPRESSED,
)
settings.register_profile(
    NIGHTLY_PROFILE,
    phases=PHASES,
    deadline=None,
    max_examples=2_000,
    stateful_step_count=100,
    suppress_health_check=SUPPRESSED,
)
