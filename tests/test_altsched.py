"""A second scheduler, written from the docs alone, passes under the contract.

``examples/altsched`` was written from docs/conformance.md, docs/contract.md,
the adapter docstring and ADR-0031, without reading ``model/`` or the
reference scheduler, with choices the reference does not make: FIFO pending
needs, the adaptive mode fixed once per cycle, worst-fit buckets, a broker
that checks already-placed, then conflict, then fenced, a need held back
although it fits, a recovery that re-reads one partition per step, and an
observation without any optional field. Run as a user runs it (pytester, a
subprocess): it passes under ``--parsync-policy contract`` and diverges under
``reference``, so the contract is what lets it through.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SUITE = str(ROOT / "conformance")


@pytest.fixture(autouse=True)
def _examples_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PYTHONPATH",
        os.pathsep.join(filter(None, [str(ROOT / "examples"), os.environ.get("PYTHONPATH")])),
    )


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        SUITE,
        "-p",
        "no:cacheprovider",
        f"--parsync-replay-dir={pytester.path / 'replays'}",
        "--parsync-impl=altsched",
        *args,
    )


def test_it_passes_under_the_contract(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester, "-s")
    r.assert_outcomes(passed=4, skipped=1)
    out = r.stdout.str()
    assert "policy=contract" in out
    assert "worker fields not compared: mode, pending, waiting, retries" in out
    assert "exhaustive lockstep: 29854 model states" in out


def test_it_diverges_under_the_reference_policy(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester, "--parsync-policy=reference", "-k", "exhaustive")
    r.assert_outcomes(failed=1, deselected=5)
    out = r.stdout.str()
    # it holds a need back where the reference proposes
    assert "divergence at step 5: schedule(1) led to a state the model does not allow" in out
    assert "messages only in the model: proposal(w1 n1" in out


def test_the_documented_toysched_passes_under_the_contract(pytester: pytest.Pytester) -> None:
    """docs/conformance.md section 4 says its exact code passes the suite: copy the
    three files out of the document and run it as the document does."""
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    pkg = pytester.path / "toysched"
    pkg.mkdir()
    for name in ("__init__.py", "scheduler.py", "adapter.py"):
        start = text.index("```python\n", text.index(f"`toysched/{name}`:")) + len("```python\n")
        (pkg / name).write_text(text[start : text.index("```", start)], encoding="utf-8")
    r = pytester.runpytest_subprocess(
        "--pyargs", "parsync.conformance", "--parsync-impl=toysched", "-p", "no:cacheprovider", "-s"
    )
    r.assert_outcomes(passed=4, skipped=1, deselected=1)
    quoted = text[
        text.index("$ python -m pytest --pyargs parsync.conformance --parsync-impl=toysched") :
    ]
    line = next(x for x in r.stdout.str().splitlines() if "exhaustive lockstep:" in x)
    assert line.lstrip(".") in quoted, line
