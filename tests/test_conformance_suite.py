"""The conformance suite itself, run the way users run it (pytester, a subprocess).

The target here is the model-backed adapter in tests/support (the model's own
first choice at every step), so these tests exercise the suite's machinery -
option handling, lockstep matching, failure reports, replay files - without
depending on any particular scheduler. The reference implementation and its
mutants are checked in tests/test_refsched_conformance.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from parsync.model.variants import VARIANTS

pytest_plugins = ["pytester"]

SUITE = str(Path(__file__).resolve().parent.parent / "conformance")
ADAPTER = "tests.support.model_adapter"
REPO = str(Path(__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The subprocess imports the test adapters from this checkout."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    )


def run_suite(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        SUITE, "-p", "no:cacheprovider", f"--parsync-replay-dir={pytester.path / 'replays'}", *args
    )


def test_the_model_itself_conforms(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester, f"--parsync-impl={ADAPTER}")
    r.assert_outcomes(passed=4, skipped=1)
    assert f"parsync conformance: impl={ADAPTER} preset=pr seed=0" in r.stdout.str()


# A representative set: found by the exhaustive walk (PS-7, PS-10, PS-5) and,
# needing faults, by the Hypothesis driver (PS-9, PS-8). Every mistake of a real
# implementation is covered by the mutants in tests/test_refsched_conformance.py.
REPRESENTATIVE = (
    "priority-ignored",
    "unbounded-carry-forward",
    "gang-second-bucket-no-bump",
    "no-epoch-fencing",
    "no-dedup",
)


@pytest.mark.parametrize("variant", REPRESENTATIVE)
def test_a_known_bad_design_is_rejected(pytester: pytest.Pytester, variant: str) -> None:
    expected = next(v.breaks for v in VARIANTS if v.name == variant)
    target = f"{ADAPTER}:variant_{variant.replace('-', '_')}"
    r = run_suite(pytester, f"--parsync-impl={target}", "-x")
    assert r.ret == 1, r.stdout.str()
    assert r.parseoutcomes().get("failed") == 1
    out = r.stdout.str()
    headline = next(line for line in out.splitlines() if " at step " in line)
    # the property the design breaks, or the first step where it leaves the model
    assert expected in headline or headline.startswith("divergence at step"), headline
    assert "interleaving:" in out and "  1. " in out
    replays = list((pytester.path / "replays").glob("*.json"))
    assert len(replays) == 1
    doc = json.loads(replays[0].read_text())
    assert doc["steps"] and doc["failure"] == headline.strip()
    # the replay file reruns exactly that interleaving and fails the same way
    again = run_suite(
        pytester, f"--parsync-impl={target}", f"--parsync-replay={replays[0]}", "-k", "replay"
    )
    again.assert_outcomes(failed=1, deselected=5)  # 4 by -k, the trace test by the plugin
    assert headline.strip() in again.stdout.str()


@pytest.mark.parametrize(
    ("impl", "message"),
    [
        ("no_such_module_xyz", "cannot import implementation module 'no_such_module_xyz'"),
        ("json", "module 'json' has no factory 'parsync_adapter'"),
        (f"{ADAPTER}:nope", f"module '{ADAPTER}' has no factory 'nope'"),
        ("tests.support.bad_adapters:raising", "tests.support.bad_adapters.raising() raised"),
        (
            "tests.support.bad_adapters:incomplete",
            "lacks method(s): start_cycle, schedule, broker_step",
        ),
    ],
)
def test_a_bad_target_is_one_clear_line(pytester: pytest.Pytester, impl: str, message: str) -> None:
    r = run_suite(pytester, f"--parsync-impl={impl}")
    assert r.ret != 0
    err = r.stderr.str()
    assert message in err
    assert "Traceback" not in err + r.stdout.str()


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        ("hanging", "did not return within 0.5s (per-step timeout)"),
        ("step_raises", "adapter.start_cycle(0) raised RuntimeError: boom"),
        ("bad_shape", "observation broker.seq must be a list"),
    ],
)
def test_a_misbehaving_adapter_fails_in_one_line(
    pytester: pytest.Pytester, factory: str, message: str
) -> None:
    r = run_suite(
        pytester, f"--impl=tests.support.bad_adapters:{factory}", "--parsync-step-timeout=0.5"
    )
    assert r.ret == 1
    out = r.stdout.str()
    assert message in out
    assert "Traceback" not in out


def test_no_impl_skips(pytester: pytest.Pytester) -> None:
    r = run_suite(pytester)
    r.assert_outcomes(skipped=5, deselected=1)  # the trace test: no --parsync-trace


def test_the_quick_stage_is_documented_with_its_real_budget() -> None:
    """docs/conformance.md quotes the quick stage's budget and its order of scopes."""
    from parsync.conformance.plugin import (
        CONFORMANCE_PRESETS,
        QUICK_EXAMPLES,
        QUICK_WALK_STEPS,
    )

    text = (Path(__file__).resolve().parent.parent / "docs" / "conformance.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| `test_quick_lockstep`"))
    assert f"the first {QUICK_WALK_STEPS:,} steps of the edge walk" in row
    assert f"then {QUICK_EXAMPLES} Hypothesis examples on every scope" in row
    pr = CONFORMANCE_PRESETS["pr"]
    assert (pr.quick_walk_steps, pr.quick_examples) == (QUICK_WALK_STEPS, QUICK_EXAMPLES)
    order = [*pr.extra_local, *pr.extra]
    assert ", ".join(f"`{n}`" for n in order) in row
