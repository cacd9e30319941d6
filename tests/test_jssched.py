"""A scheduler in JavaScript, written from the docs alone, through the pipe protocol.

``examples/jssched`` (Node.js, no dependencies) was written from
docs/conformance.md (sections 1a, 2a, 3), the protocol schema and ADR-0031,
with its own policy: needs by id, the adaptive mode by cycle parity, the
highest-numbered buckets, a broker that checks conflict first and takes the
latest unblocked proposal. It passes under the contract and diverges under
``reference``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SUITE = str(ROOT / "conformance")
IMPL = f"--parsync-impl=exec:node {ROOT / 'examples' / 'jssched' / 'adapter.js'}"

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="needs node"),
    pytest.mark.usefixtures("repo_on_path"),
]


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        SUITE, "-p", "no:cacheprovider", f"--parsync-replay-dir={pytester.path / 'r'}", IMPL, *args
    )


def test_it_passes_under_the_contract(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester, "-s")
    r.assert_outcomes(passed=4, skipped=1)
    assert "exhaustive lockstep: 29854 model states" in r.stdout.str()


def test_it_diverges_under_the_reference_policy(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester, "--parsync-policy=reference", "-k", "exhaustive")
    r.assert_outcomes(failed=1, deselected=5)
    assert "divergence at step 8: schedule(0) led to a state the model does not allow" in (
        r.stdout.str()
    )
