"""Bounded model checking (model/proofs/bmc.py) agrees with the BFS checker.

For every known-bad variant on the ``pr`` scope, BMC's first violation is at
the depth of the BFS's shortest counterexample, the property the BFS reports
is violable at that depth, and the BMC trace replays in the Python model and
violates it there. On the design, BMC finds nothing up to the bound.

Unsat depths dominate BMC's cost (each level roughly 2-3x the last on ``pr``):
measured on the shared 2-core machine, the design to depth 12 takes ~60-75 s,
``retry-off-by-one`` (12 steps) ~77 s and ``gang-fit-first-bucket-only`` (10
steps) ~20 s; the 12-step agreement carries the ``slow`` marker (it runs by
default; ``-m "not slow"`` skips it).
"""

from __future__ import annotations

import pytest

from model.checker import Checker
from model.cli import main
from model.presets import get_preset
from model.proofs.bmc import Bmc, independence
from model.proofs.witness import witness_config
from model.protocol import ParSyncModel
from model.variants import VARIANTS, Variant

PR = get_preset("pr").config
SLOW = {"retry-off-by-one"}  # a 12-step shortest counterexample
DESIGN_DEPTH = 6


def _params() -> list[object]:
    return [
        pytest.param(v, id=v.name, marks=[pytest.mark.slow] if v.name in SLOW else [])
        for v in VARIANTS
    ]


@pytest.mark.parametrize("v", _params())
def test_bmc_agrees_with_bfs_on_variant(v: Variant) -> None:
    model = ParSyncModel(PR, v.name)
    bfs = Checker(model).run()
    assert bfs.violation is not None
    depth = len(bfs.violation.trace.actions)
    assert v.breaks in bfs.violation.property_ids

    res = Bmc(ParSyncModel(PR, v.name), depth).run(also=(v.breaks,))
    assert res.unknown == "" and res.problem == "", (res.unknown, res.problem)
    assert res.depth == depth, f"BMC's shortest violation is {res.depth} steps, BFS's {depth}"
    assert v.breaks in res.properties
    assert res.replayed and res.python_violations
    assert len(res.actions) == depth


def test_bmc_finds_nothing_on_the_design() -> None:
    res = Bmc(ParSyncModel(PR), DESIGN_DEPTH).run()
    assert res.unknown == "" and res.problem == ""
    assert res.depth is None
    assert len(res.per_depth_seconds) == DESIGN_DEPTH + 1


def test_bmc_on_another_scope() -> None:
    """pr with duplication on: the shallow variant is found at the BFS depth too."""
    cfg = witness_config()
    bfs = Checker(ParSyncModel(cfg, "unbounded-carry-forward")).run()
    assert bfs.violation is not None
    res = Bmc(ParSyncModel(cfg, "unbounded-carry-forward"), 3).run()
    assert res.depth == len(bfs.violation.trace.actions) and res.replayed


def test_partial_order_reduction_table() -> None:
    """Independence is symmetric, and only where read/write sets do not conflict."""
    names = [
        "StartCycle[up]",
        "Propose",
        "Commit[Committed]",
        "HandleReply[Conflict]",
        "Release",
        "Crash",
        "Drop[proposal]",
        "Failover",
    ]
    for a in names:
        for b in names:
            assert independence(a, b) == independence(b, a)
    assert independence("Propose", "Propose") == "workers-differ"
    assert independence("Propose", "Commit[Committed]") is None  # Commit reads the bag
    assert independence("StartCycle[up]", "Propose") is None  # StartCycle's timeout reads it
    assert independence("Release", "Propose") == "always"
    assert independence("Crash", "Crash") is None  # the shared crash budget
    assert independence("Failover", "Release") is None  # both write the broker


def test_cli_bmc(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bmc", "--preset", "pr", "--variant", "no-epoch-fencing", "--depth", "4"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION of PS-9 at depth 4" in out and "replayed in the model: yes" in out
    assert main(["bmc", "--preset", "pr", "--depth", "3"]) == 0
    assert "PASS: no property violated within 3 steps" in capsys.readouterr().out
    assert main(["bmc", "--preset", "nope"]) == 2
    assert main(["bmc", "--variant", "nope"]) == 2
