"""Bounded model checking (parsync/proofs/bmc.py) agrees with the BFS checker.

For every known-bad variant of the reference policy on the ``pr`` scope (the
capacity mistakes on ``capacity``, where they are reachable), BMC's first
violation is at the depth of the BFS's shortest counterexample, the property the BFS reports
is violable at that depth, and the BMC trace replays in the Python model and
violates it there. On the design, BMC finds nothing up to depth 12 (the
issue's benchmark bound; bench/bench_bmc.py measures it).

The hints BMC proves and assumes per depth only make it faster: a false one
is refuted and dropped, and with or without hints the results are the same.
"""

from __future__ import annotations

import json

import pytest

from parsync.cli import main
from parsync.engines.checker import Checker
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.variants import CAPACITY_VARIANTS, GROUND_TRUTH_VARIANTS, VARIANTS, Variant
from parsync.proofs.bmc import BOUNDS, IDLE_START, Bmc, independence, never_enabled
from parsync.proofs.witness import witness_config
from tests.support.isolated import isolated

PR = get_preset("pr").config
SLOW: set[str] = set()
DESIGN_DEPTH = 12


#: the scope each variant is compared on: the capacity mistakes need sizes 2 and
#: capacities 2-3 (the ``capacity`` preset: eligible subsets, a partition map); with
#: unit sizes and capacities (``pr``) each is the correct rule
CAPACITY = {v.name for v in CAPACITY_VARIANTS}


def _params() -> list[object]:
    return [
        pytest.param(v, id=v.name, marks=[pytest.mark.slow] if v.name in SLOW else [])
        for v in (*VARIANTS, *CAPACITY_VARIANTS, *GROUND_TRUTH_VARIANTS)
    ]


@pytest.mark.parametrize("v", _params())
def test_bmc_agrees_with_bfs_on_variant(v: Variant) -> None:
    cfg = get_preset("capacity").config if v.name in CAPACITY else PR
    model = ParSyncModel(cfg, v.name)
    bfs = Checker(model).run()
    assert bfs.violation is not None
    depth = len(bfs.violation.trace.actions)
    assert v.breaks in bfs.violation.property_ids

    res = Bmc(ParSyncModel(cfg, v.name), depth).run(also=(v.breaks,))
    assert res.unknown == "" and res.problem == "", (res.unknown, res.problem)
    assert res.depth == depth, f"BMC's shortest violation is {res.depth} steps, BFS's {depth}"
    assert v.breaks in res.properties
    assert res.replayed and res.python_violations
    assert len(res.actions) == depth


def test_every_reference_variant_is_compared() -> None:
    from parsync.model.variants import REFERENCE_VARIANTS
    from parsync.proofs.encoding import ENCODED_VARIANTS

    names = {p.values[0].name for p in _params()}  # type: ignore[attr-defined]
    assert names == {v.name for v in REFERENCE_VARIANTS} == set(ENCODED_VARIANTS)
    assert "used-counts-claims" in names and "used-counts-claims" not in SLOW


def test_cli_bmc_compare_bfs_on_the_claim_count_mistake(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """used-counts-claims on capacity: BMC finds PS-1 at BFS's depth (9 on the contract,
    whose two commits each follow a Deliver; 7 on the reference), and says so."""
    argv = ["bmc", "--preset", "capacity", "--variant", "used-counts-claims", "--depth", "9"]
    assert main([*argv, "--compare-bfs", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION of PS-1 at depth 9" in out and "replayed in the model: yes" in out
    assert "BFS: PS-1 violated at depth 9" in out
    assert "BMC and BFS agree to depth 9" in out and "disagree" not in out


def test_bmc_finds_nothing_on_the_design() -> None:
    res = Bmc(ParSyncModel(PR), DESIGN_DEPTH).run()
    assert res.unknown == "" and res.problem == ""
    assert res.depth is None
    assert len(res.per_depth_seconds) == DESIGN_DEPTH + 1


def test_hints_are_proved_before_they_are_assumed() -> None:
    """A false hint ("no need is ever placed") is refuted and dropped, never assumed."""
    from parsync.model.state import UNPLACED

    def never_placed(e: object, S: object) -> object:
        return e.all("N", lambda n: S.status(n) == UNPLACED)  # type: ignore[attr-defined]

    for variant, depth in ((None, 6), ("no-epoch-fencing", 4)):
        bmc = Bmc(ParSyncModel(PR, variant), depth)
        bmc.catalogue["NeverPlaced"] = never_placed
        bmc.hints.append("NeverPlaced")
        res = bmc.run()
        assert res.ok and [n for _, n in bmc.dropped] == ["NeverPlaced"]
        assert "NeverPlaced" not in bmc.hints and BOUNDS in bmc.hints
        if variant is None:
            assert res.depth is None
        else:
            assert res.depth == depth and "PS-9" in res.properties and res.replayed


def test_results_do_not_depend_on_the_hints() -> None:
    for variant in ("release-keeps-ledger", "no-epoch-fencing"):
        bfs = Checker(ParSyncModel(PR, variant)).run()
        assert bfs.violation is not None
        depth = len(bfs.violation.trace.actions)
        with_h = Bmc(ParSyncModel(PR, variant), depth).run()
        without = Bmc(ParSyncModel(PR, variant), depth, hints=False).run()
        assert with_h.depth == without.depth == depth
        assert with_h.properties == without.properties
        assert with_h.replayed and without.replayed
    assert Bmc(ParSyncModel(PR), 5, hints=False).run().depth is None


@isolated  # a 1 ms timeout fires Z3's timer mid-query: a crash there fails this test only
def test_unknown_is_never_a_pass(capsys: pytest.CaptureFixture[str]) -> None:
    res = Bmc(ParSyncModel(PR), 12, timeout_s=0.001).run()
    assert res.unknown and not res.ok and res.depth is None
    assert main(["bmc", "--preset", "pr", "--depth", "12", "--timeout", "0.001"]) == 1
    assert "UNKNOWN" in capsys.readouterr().out


def test_faults_without_budget_are_left_out() -> None:
    assert never_enabled(ParSyncModel(PR)) == {"Duplicate[proposal]", "Duplicate[reply]"}
    assert never_enabled(ParSyncModel(witness_config())) == set()


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
    # an idle worker's StartCycle does not read the bags
    assert independence(IDLE_START, "Propose") == "workers-differ"
    assert independence(IDLE_START, "Drop[proposal]") == "always"
    assert independence(IDLE_START, "Commit[Committed]") is None  # it reads the broker
    assert independence("Commit[Conflict]", "Recover") == "always"  # only Committed writes B


def test_cli_bmc(capsys: pytest.CaptureFixture[str]) -> None:
    # the contract by default: the proposal reaches the broker's inbox in a step of its
    # own (Deliver), one step more than the reference's 4
    assert main(["bmc", "--preset", "pr", "--variant", "no-epoch-fencing", "--depth", "5"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION of PS-9 at depth 5" in out and "replayed in the model: yes" in out
    assert main(["bmc", "--preset", "pr", "--depth", "3"]) == 0
    assert "PASS: no property violated within 3 steps" in capsys.readouterr().out
    assert main(["bmc", "--preset", "nope"]) == 2
    assert main(["bmc", "--variant", "nope"]) == 2


# --- bmc --compare-bfs (issue 17) ------------------------------------------------------------


def test_checker_max_depth_bounds_the_search() -> None:
    bounded = Checker(ParSyncModel(PR, "no-epoch-fencing"), max_depth=3).run()
    assert bounded.violation is None and "depth bound of 3" in bounded.stop_reason
    found = Checker(ParSyncModel(PR, "no-epoch-fencing"), max_depth=4).run()
    assert found.violation is not None and len(found.violation.trace.actions) == 4


@pytest.mark.parametrize(
    ("args", "code", "seen"),
    [
        (["--depth", "3"], 0, "BFS: no violation within 3 steps"),
        (["--variant", "no-epoch-fencing", "--depth", "5"], 1, "BFS: PS-9 violated at depth 5"),
        (
            ["--policy", "reference", "--variant", "no-epoch-fencing", "--depth", "4"],
            1,
            "BFS: PS-9 violated at depth 4",
        ),
        (
            ["--policy", "contract", "--variant", "no-epoch-fencing", "--depth", "5"],
            1,
            "BFS: PS-9 violated at depth 5",
        ),
    ],
    ids=["design", "default-variant", "reference-variant", "contract-variant"],
)
def test_cli_bmc_compare_bfs_agrees(
    capsys: pytest.CaptureFixture[str], args: list[str], code: int, seen: str
) -> None:
    assert main(["bmc", "--preset", "pr", "--compare-bfs", "--no-progress", *args]) == code
    out = capsys.readouterr().out
    assert seen in out
    assert "BMC and BFS agree to depth" in out and "disagree" not in out


def test_cli_bmc_compare_bfs_disagreement(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from parsync.proofs import command

    monkeypatch.setattr(command, "bfs_bounded", lambda *_a, **_k: (None, []))
    argv = ["bmc", "--preset", "pr", "--variant", "no-epoch-fencing", "--depth", "5"]
    assert main([*argv, "--compare-bfs", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "BMC and BFS disagree: BMC found PS-9 at depth 5, BFS found nothing" in out
    monkeypatch.setattr(command, "bfs_bounded", lambda *_a, **_k: (4, ["PS-9"]))
    assert main([*argv, "--compare-bfs", "--no-progress", "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["agree"] is False and "depth 5" in doc["disagreement"]
    # a pass on both sides is exit 0 even when BFS is patched the same way
    monkeypatch.setattr(command, "bfs_bounded", lambda *_a, **_k: (None, []))
    assert main(["bmc", "--preset", "pr", "--depth", "2", "--compare-bfs", "--no-progress"]) == 0


def test_compare_verdicts() -> None:
    from parsync.proofs.command import compare_verdicts

    assert compare_verdicts((None, []), (None, [])) == ""
    assert compare_verdicts((4, ["PS-1", "PS-9"]), (4, ["PS-9"])) == ""
    assert "no property in common" in compare_verdicts((4, ["PS-1"]), (4, ["PS-9"]))
    assert "BFS's at depth 5" in compare_verdicts((4, ["PS-9"]), (5, ["PS-9"]))
