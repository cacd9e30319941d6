"""Z3 proofs (model/proofs): every obligation proved for the design, every
known-bad variant caught with a decoded counterexample, the encoding tied to
the Python model by the differential check, and the committed report current.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from parsync.cli import main
from parsync.engines.checker import Checker
from parsync.model.presets import get_preset
from parsync.model.properties import SAFETY_IDS
from parsync.model.protocol import ParSyncModel
from parsync.model.variants import CAPACITY_VARIANTS, GROUND_TRUTH_VARIANTS, VARIANTS
from parsync.proofs.differential import DiffStats, check_state, random_walks
from parsync.proofs.encoding import PROP_ACTIONS, Encoding
from parsync.proofs.logic import ParamUniverse
from parsync.proofs.proofs import (
    ALL_GOAL_IDS,
    CTI,
    GOAL_BY_ID,
    GOALS,
    LEMMAS,
    PROVED,
    TYPE_OK,
    USED_TRACKS,
    PropertyResult,
    Prover,
)
from parsync.proofs.report import DEFAULT_REPORT, REGENERATE, recorded_hash, source_hash
from parsync.proofs.witness import find_witnesses
from tests.support.isolated import isolated

SUB_ACTIONS = [a.name for a in Encoding(ParamUniverse("t")).actions]


@pytest.fixture(scope="module")
def design() -> tuple[list[PropertyResult], PropertyResult]:
    pr = Prover(None)
    return [pr.prove(pid) for pid in ALL_GOAL_IDS], pr.nonvacuous()


# --- the design: everything proved, nothing vacuous -----------------------------------------


def test_every_obligation_of_the_design_is_proved(
    design: tuple[list[PropertyResult], PropertyResult],
) -> None:
    results, _ = design
    assert [r.pid for r in results] == [TYPE_OK, *SAFETY_IDS]
    bad = [o.message() for r in results for o in r.failures]
    assert bad == []


def test_obligations_are_one_per_invariant_and_action(
    design: tuple[list[PropertyResult], PropertyResult],
) -> None:
    """Init => C and Inv /\\ A => C' for every conjunct C and every sub-action A."""
    results, _ = design
    by = {r.pid: r for r in results}
    for pid, r in by.items():
        g = GOAL_BY_ID[pid]
        conj = ([pid] if g.kind == "state" else []) + list(g.lemmas)
        got = {(o.invariant, o.action) for o in r.obligations}
        for c in conj:
            assert (c, "Init") in got
            for a in SUB_ACTIONS:
                assert (c, a) in got, (pid, c, a)
        if g.kind == "action":
            acts = (
                SUB_ACTIONS
                if g.all_actions
                else [a for a in SUB_ACTIONS if a.split("[")[0] in PROP_ACTIONS[pid]]
            )
            assert {(pid, a) for a in acts} <= got
    assert {(USED_TRACKS, a) for a in SUB_ACTIONS} <= {
        (o.invariant, o.action) for o in by["PS-1"].obligations
    }
    assert len(SUB_ACTIONS) == 20


def test_no_obligation_is_vacuous(design: tuple[list[PropertyResult], PropertyResult]) -> None:
    """Each hypothesis (axioms, all invariants, the action) has a reachable witness."""
    _, nv = design
    assert [o.action for o in nv.obligations] == ["Init", *SUB_ACTIONS]
    assert [o.message() for o in nv.failures] == []


def test_an_inconsistent_lemma_is_caught_by_the_nonvacuity_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A lemma false on reachable states would make obligations hold vacuously: caught.

    "No need is ever placed" holds initially and, assumed in the hypothesis of
    every obligation, contradicts any commit: the obligations of a Commit would
    be proved for want of a model. The witnesses are reachable, so the check
    names the lemma and fails.
    """
    from parsync.model.state import UNPLACED
    from parsync.proofs.proofs import NONVACUOUS, Lemma

    name = "UnplacedNeverCommitted"
    monkeypatch.setitem(
        LEMMAS,
        name,
        Lemma(name, "never placed", lambda e, S: e.all("N", lambda n: S.status(n) == UNPLACED)),
    )
    nv = Prover(None).nonvacuous()
    assert nv.pid == NONVACUOUS and not nv.proved
    bad = {o.action: o.reason for o in nv.failures}
    assert "Init" not in bad and "Release" in bad
    assert all(name in why for why in bad.values())


def test_every_variant_has_a_switch_in_the_encoding() -> None:
    from parsync.proofs.encoding import ENCODED_VARIANTS

    assert {v.name for v in (*VARIANTS, *CAPACITY_VARIANTS, *GROUND_TRUTH_VARIANTS)} == set(
        ENCODED_VARIANTS
    )
    with pytest.raises(KeyError):
        Encoding(ParamUniverse("k"), "no-such-variant")


def test_every_lemma_is_used_and_explained() -> None:
    used = {n for g in GOALS for n in g.lemmas}
    assert used == set(LEMMAS)
    for lem in LEMMAS.values():
        assert lem.text and "\n" not in lem.text


# --- every known-bad variant fails an obligation of the property it breaks -------------------


@pytest.mark.parametrize("v", (*VARIANTS, *GROUND_TRUTH_VARIANTS), ids=lambda v: v.name)
@isolated  # Z3 segfaulted here once: a crash is this test's failure, not pytest's
def test_variant_fails_with_a_decoded_counterexample(v: object) -> None:
    name, pid = v.name, v.breaks  # type: ignore[attr-defined]
    pr = Prover(name, timeout_s=10, first_attempt_rlimit=Prover.FIRST_ATTEMPT_RLIMIT // 3)
    r = pr.prove(pid)
    assert not r.proved
    ctis = [o for o in r.failures if o.outcome == CTI]
    assert ctis, [o.message() for o in r.failures]
    for o in ctis:
        assert o.pid == pid and o.message().startswith(f"{pid}: ")
        c = o.cti
        assert c is not None and c.decode_error == "", o.message()
        assert c.config is not None and c.pre is not None and c.post is not None
        if o.action != "Init":
            # the decoded step is a step of the Python model (from an unreachable state)
            assert c.replay == "agrees", o.message()
    # where the goal itself is not preserved, the executable predicate agrees
    for o in ctis:
        if o.invariant == pid and o.action != "Init":
            assert o.cti is not None and o.cti.python_post is False, o.message()
            # rendered like a trace, a screen or two, ending with why it fails
            text = o.cti.render(width=100)
            assert len(text.encode()) < 8 * 1024, len(text)
            why = [x for x in text.splitlines() if x.startswith(f"  => {pid} ")]
            assert why and "no witness" not in why[0], text


def test_capacity_mistake_fails_the_proof_with_a_replayed_cti() -> None:
    """room-as-used-below-cap, for every size: a Propose the Python model also takes."""
    r = Prover(
        "room-as-used-below-cap",
        timeout_s=10,
        first_attempt_rlimit=Prover.FIRST_ATTEMPT_RLIMIT // 3,
    ).prove("PS-1")
    assert not r.proved
    ctis = [o for o in r.failures if o.outcome == CTI]
    assert ctis and all(o.cti is not None and o.cti.decode_error == "" for o in ctis)
    assert any(o.action == "Propose" and o.cti.replay == "agrees" for o in ctis if o.cti)
    # the decoded counterexample has a need larger than one unit: the mistake needs it
    for o in ctis:
        assert o.cti is not None and o.cti.config is not None
        assert max(n.size for n in o.cti.config.needs) >= 2, o.message()


@pytest.mark.parametrize("policy", ["reference", "contract"])
@isolated
def test_claim_count_mistake_fails_the_proof_with_a_replayed_cti(policy: str) -> None:
    """used-counts-claims, for every size: a read that reports the claim counter breaks
    ViewCurrentIsExact (a current view entry no longer holds the broker's used), in a
    step the Python model also takes, and only with a need larger than one unit."""
    r = Prover(
        "used-counts-claims",
        timeout_s=10,
        first_attempt_rlimit=Prover.FIRST_ATTEMPT_RLIMIT // 3,
        policy=policy,
    ).prove("PS-1")
    assert not r.proved
    ctis = [o for o in r.failures if o.outcome == CTI]
    assert ctis, [o.message() for o in r.failures]
    for o in ctis:
        assert o.pid == "PS-1" and o.message().startswith("PS-1: "), o.message()
        c = o.cti
        assert c is not None and c.decode_error == "", o.message()
        assert c.config is not None and c.pre is not None and c.post is not None
        assert c.replay == "agrees", o.message()
        # the decoded counterexample has a need larger than one unit: the mistake needs it
        assert max(n.size for n in c.config.needs) >= 2, o.message()
    assert any(o.invariant == "ViewCurrentIsExact" for o in ctis)
    # a read (the rotation's, a re-read after a Conflict or a fencing, a recovery)
    reads = ("StartCycle[up]", "HandleReply[Conflict]", "HandleReply[Fenced]", "Recover")
    assert any(o.action in reads for o in ctis), [o.label for o in ctis]


def test_cli_prove_names_ps1_on_the_claim_count_mistake(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["prove", "--variant", "used-counts-claims", "--property", "PS-1", "--no-progress"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "tie: " in out and "agree with model/protocol.py" in out
    assert "PS-1: lemma ViewCurrentIsExact is not preserved by " in out, out
    assert "PROVED" not in out and "FAILED: " in out


@pytest.mark.parametrize("cmd", ["prove", "bmc"])
def test_a_variant_outside_the_encoding_is_a_usage_error(
    cmd: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every known variant has a switch now; one taken out of ENCODED_VARIANTS (a new
    variant written for the explicit-state engines first) is a one-line usage error."""
    from parsync.cli import main
    from parsync.proofs import encoding

    variant = "used-counts-claims"
    monkeypatch.setattr(encoding, "ENCODED_VARIANTS", encoding.ENCODED_VARIANTS - {variant})
    extra = ["--depth", "2"] if cmd == "bmc" else []
    assert main([cmd, "--variant", variant, *extra]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"variant {variant!r} is not in the Z3 encoding yet" in err


def test_the_design_passes_where_each_variant_fails() -> None:
    """The obligations a variant fails are proved for the design (same names)."""
    pr = Prover(None)
    for pid in ("PS-9", "PS-10"):
        assert pr.prove(pid).proved


# --- differential: the Z3 relation is the Python model's -------------------------------------


def test_differential_on_a_witness_of_every_sub_action() -> None:
    wit = find_witnesses(SUB_ACTIONS)
    assert set(wit) == set(SUB_ACTIONS)
    import random

    stats = DiffStats()
    rng = random.Random(3)
    for w in wit.values():
        check_state(w.model, w.pre, stats, rng, mutations_per_step=None, mutate_only=w.action)
    assert stats.problems == []
    assert set(stats.by_action) == set(SUB_ACTIONS)
    assert stats.mutations > 500


def test_lemmas_hold_on_reachable_states_in_every_reading() -> None:
    """TypeOK and every lemma are true on reachable states, in the Int and the bit-vector reading.

    BMC proves and assumes these facts per depth in its bit-vector reading, so
    the two readings must agree on them; this caught ``mod`` read as SRem (its
    sign follows the dividend) where RotationCoverage takes ``(cycle - p) mod P``
    of a negative number: false on the initial state in bit-vectors.
    """
    import random

    from parsync.proofs.bmc import hint_catalogue, width_for
    from parsync.proofs.concrete import Scope
    from parsync.proofs.differential import _truth

    model = ParSyncModel(get_preset("pr").config)
    rng = random.Random(7)
    states = []
    for _ in range(3):
        s = model.init_state()
        for _ in range(14):
            states.append(s)
            succ = list(model.successors(s))
            if not succ:
                break
            s = rng.choice(succ)[1]
    facts = hint_catalogue()
    for s in states:
        props, reps = sorted(set(s.to_broker)), sorted(set(s.to_workers))
        for width in (None, width_for(model, 12)):
            sc = Scope(model, props, reps, exact=True, bv_width=width)
            sc.structure()
            S = sc.enc.state("s")
            sc.pin_values(S, sc.values(s))
            false = [n for n, f in facts.items() if not _truth(f(sc.enc, S))]
            assert false == [], (width, s)


@pytest.mark.parametrize(
    ("preset", "walks", "steps"), [("pr", 2, 16), ("nightly", 1, 16), ("small", 1, 12)]
)
def test_differential_random_walks_design(preset: str, walks: int, steps: int) -> None:
    stats = random_walks(ParSyncModel(get_preset(preset).config), walks=walks, steps=steps, seed=11)
    assert stats.problems == []
    assert stats.steps > 20 and stats.mutations > 100


@pytest.mark.parametrize(
    "v", (*VARIANTS, *CAPACITY_VARIANTS, *GROUND_TRUTH_VARIANTS), ids=lambda v: v.name
)
def test_differential_along_the_variant_counterexample(v: object) -> None:
    """Every state of the variant's shortest BFS counterexample (its bug included); the
    capacity mistakes on ``capacity``, the others on ``pr``."""
    import random

    name = v.name  # type: ignore[attr-defined]
    preset = "capacity" if name in {c.name for c in CAPACITY_VARIANTS} else "pr"
    model = ParSyncModel(get_preset(preset).config, name)
    res = Checker(model).run()
    assert res.violation is not None
    tr = res.violation.trace
    stats = DiffStats()
    rng = random.Random(5)
    for s in [tr.init, *tr.states]:
        check_state(model, s, stats, rng, mutations_per_step=3)
    assert stats.problems == []
    assert stats.states == len(tr.actions) + 1


# --- report and command ------------------------------------------------------------------------


def test_committed_report_is_current() -> None:
    path = Path(DEFAULT_REPORT)
    assert path.exists(), f"no proof report; generate it with `{REGENERATE}`"
    rec = recorded_hash(path)
    assert rec == source_hash(), (
        f"{path} was generated from other sources (its hash {rec}, now {source_hash()}); "
        f"regenerate it with `{REGENERATE}`"
    )
    text = path.read_text(encoding="utf-8")
    assert "Verdict: **proved**" in text
    for pid in SAFETY_IDS:
        assert f"## {pid} " in text


def test_cli_prove_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--property", "PS-9"]) == 0
    out = capsys.readouterr().out
    assert "PS-9" in out and "PROVED" in out
    assert main(["prove", "--property", "PS-9", "--variant", "no-epoch-fencing"]) == 1
    out = capsys.readouterr().out
    assert "PS-9: goal PS-9 is not preserved by Commit[Committed]" in out
    assert main(["prove", "--property", "PS-99"]) == 2
    assert "unknown property 'PS-99'" in capsys.readouterr().err
    assert main(["prove", "--variant", "nope"]) == 2
    with pytest.raises(SystemExit) as ex:  # argparse rejects the value itself
        main(["prove", "--timeout", "0"])
    assert ex.value.code == 2
    assert main(["prove", "--variant", "no-dedup", "--report", "x.md"]) == 2


def test_cli_prove_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--property", "PS-7,PS-2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "proved"
    assert [p["id"] for p in doc["properties"]] == [TYPE_OK, "PS-2", "PS-7"]
    ob = doc["properties"][1]["obligations"][0]
    assert set(ob) >= {"property", "invariant", "action", "outcome", "seconds"}
    assert all(o["outcome"] == PROVED for p in doc["properties"] for o in p["obligations"])


# --- how each obligation holds (issue 17) ------------------------------------------------------


def test_commit_guard_properties_hold_by_construction_and_ps1_needs_lemmas() -> None:
    from parsync.proofs.proofs import BY_CONSTRUCTION, NEEDS_LEMMAS, Prover

    pr = Prover(None)
    for pid in ("PS-2", "PS-7", "PS-9"):
        r = pr.prove(pid, classify=True)
        assert r.proved and r.classified
        assert r.by_construction, [(o.label, o.klass) for o in r.obligations]
        assert all(o.klass == BY_CONSTRUCTION for o in r.obligations)
    ps1 = pr.prove("PS-1", classify=True)
    assert ps1.proved and not ps1.by_construction
    needs = [o for o in ps1.obligations if o.klass == NEEDS_LEMMAS]
    assert any(o.invariant == "PS-1" for o in needs), "PS-1's own steps need its lemmas"


def test_a_weakened_commit_guard_is_not_by_construction() -> None:
    """Without the epoch check, PS-9's Commit obligations are no longer implied by the
    action: the classification says not proved (the obligation fails), never construction."""
    from parsync.proofs.proofs import BY_CONSTRUCTION, Prover

    r = Prover("no-epoch-fencing").prove("PS-9", classify=True)
    assert not r.by_construction
    bad = [o for o in r.obligations if o.klass != BY_CONSTRUCTION]
    assert bad and all(o.action.startswith("Commit") for o in bad)


def test_unknown_is_not_classified_never_by_construction(monkeypatch: pytest.MonkeyPatch) -> None:
    from parsync.proofs import proofs as P

    def unknown(_s: object, _c: object) -> tuple[object, None, str]:
        return P.z3.unknown, None, "timeout"

    pr = P.Prover(None)
    r = pr.prove("PS-9")
    monkeypatch.setattr(P, "refute", unknown)
    assert {pr.classify(o) for o in r.obligations} == {P.NOT_CLASSIFIED}


def test_report_shows_the_classes() -> None:
    text = Path(DEFAULT_REPORT).read_text(encoding="utf-8")
    assert "how the obligations hold" in text and "not classified" in text
    summary = text.split("## Summary")[1].split("\n## ")[0]
    for pid in ("PS-7", "PS-9"):
        row = next(line for line in summary.splitlines() if line.startswith(f"| {pid} |"))
        assert "**holds by construction**: restates the Commit step" in row
    # PS-2 is stated at Propose and at Commit (issue 13): each step establishes it alone
    row = next(line for line in summary.splitlines() if line.startswith("| PS-2 |"))
    assert "**holds by construction**: each of its 2 actions establishes it alone" in row
    row = next(line for line in summary.splitlines() if line.startswith("| PS-1 |"))
    assert "holds by construction" not in row and "need lemmas" in row
    doc = json.loads(Path(DEFAULT_REPORT).with_suffix(".json").read_text(encoding="utf-8"))
    assert doc["verdict"] == "proved"


def test_cli_prove_classify(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prove", "--property", "PS-9", "--classify", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "holds by construction: restates the Commit step" in out
    assert "classification queries:" in out
    assert main(["prove", "--property", "PS-9", "--no-progress"]) == 0
    assert "how they hold" not in capsys.readouterr().out
