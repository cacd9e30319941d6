"""The reference scheduler passes the conformance suite; every mutant of it fails.

Run as users run it: ``pytest conformance --impl=TARGET`` in a subprocess
(pytester). The mutation score must be 100%: each mutant is killed with the
property its catalogue entry names, or - for mistakes that break no safety
property by themselves - at the first step where it leaves the model.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from parsync.refsched import REFERENCE
from parsync.refsched.mutants import MUTANTS

pytest_plugins = ["pytester"]

SUITE = str(Path(__file__).resolve().parent.parent / "conformance")


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        SUITE, "-p", "no:cacheprovider", f"--parsync-replay-dir={pytester.path / 'replays'}", *args
    )


@pytest.mark.parametrize(("policy", "states"), [("contract", 29854), ("reference", 3053)])
def test_the_reference_passes(pytester: pytest.Pytester, policy: str, states: int) -> None:
    """Under the contract (the default) and under its own policy; the contract's
    graph is larger, and the walk takes only the edges the reference's policy
    chooses (the rest are reported as not taken, not as failures)."""
    r = run_suite(pytester, f"--parsync-impl={REFERENCE}", f"--parsync-policy={policy}", "-s")
    r.assert_outcomes(passed=4, skipped=1)
    assert f"parsync conformance: impl={REFERENCE} preset=pr seed=0 policy={policy}" in (
        r.stdout.str()
    )
    assert f"exhaustive lockstep: {states} model states" in r.stdout.str()


@pytest.mark.parametrize(("module", "expected"), [(m, e) for m, _d, e in MUTANTS])
def test_every_mutant_is_killed(pytester: pytest.Pytester, module: str, expected: str) -> None:
    r = run_suite(pytester, f"--parsync-impl={module}", "-x")
    assert r.ret == 1, r.stdout.str()
    out = r.stdout.str()
    headline = next(line for line in out.splitlines() if " at step " in line)
    accepted = expected.split("|")  # any listed detection is a kill
    assert any(
        headline.startswith("divergence at step")
        if e == "divergence"
        else e in headline.split(" violated")[0]
        for e in accepted
    ), (accepted, headline)
    assert "interleaving:" in out
    assert list((pytester.path / "replays").glob("*.json")), "no replay file written"


def test_the_catalogue_has_at_least_twelve_mutants() -> None:
    assert len(MUTANTS) >= 12
    assert len({m for m, _d, _e in MUTANTS}) == len(MUTANTS)
