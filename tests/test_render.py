"""Counterexamples people can read and see (issue 16).

* the one renderer: the initial state once, per step what changed (sets as
  +/-, bags as counts), caps, the reason line of every property on a real
  counterexample of its known-bad variant, one width for check and replay;
* the prove CTI with 108,205 copies of one proposal stays a screen or two;
* the sequence diagram of every variant's counterexample (Mermaid, SVG, HTML);
* ITF typed as spec/ParSync.tla: validated against spec/itf.schema.json, the
  variable names parsed from the spec, states decoded back.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from parsync.cli import main
from parsync.counterexample import Trace
from parsync.diagram import events, html, mermaid, of_trace, svg
from parsync.engines.checker import Checker
from parsync.itf import spec_projection, state_from_itf
from parsync.model.actions import Commit, Crash, Drop, Duplicate, Failover, action_name
from parsync.model.presets import get_preset
from parsync.model.properties import PROPERTIES
from parsync.model.protocol import ParSyncModel
from parsync.model.state import Proposal
from parsync.model.variants import GROUND_TRUTH_VARIANTS, VARIANT_NAMES, VARIANTS, get_variant
from parsync.render import Bag, MapV, Scalar, SetV, changes, explain, show

ROOT = Path(__file__).resolve().parents[1]


@cache
def cex(name: str) -> tuple[str, ParSyncModel, Trace, tuple[str, ...]]:
    """The shortest counterexample of a variant on the smallest preset that reaches it."""
    for preset in ("small", "pr"):
        m = ParSyncModel(get_preset(preset).config, name)
        r = Checker(m).run()
        if r.violation is not None:
            return preset, m, r.violation.trace, tuple(r.violation.property_ids)
    raise AssertionError(f"{name}: no counterexample on small or pr")


# --- values: sets, bags, maps, caps ----------------------------------------------------------


def test_sets_show_only_what_was_added_or_removed() -> None:
    assert changes("k", SetV(("n0", "n1")), SetV(("n1", "n2"))) == ["k: +n2 -n0"]
    assert changes("k", SetV(("n0",)), SetV(("n0",))) == []


def test_a_set_whose_only_change_is_a_repeat_is_shown_whole() -> None:
    # a Commit adding a claim a bucket already holds (an unreachable CTI pre-state can
    # have it): nothing added, nothing removed, so the whole new value, never `name: `
    assert changes("broker.claims[b0]", SetV(("n0",)), SetV(("n0", "n0"))) == [
        "broker.claims[b0] = {n0, n0}"
    ]


def test_bags_are_counts_not_copies() -> None:
    many = Bag((("P(a)", 108_205), ("P(b)", 1)))
    assert show(many) == "{P(a) x 108205, P(b)} (108206 in flight)"
    fewer = Bag((("P(a)", 108_204), ("P(b)", 1)))
    assert changes("to_broker", many, fewer) == ["to_broker: P(a) x 108205 -> 108204"]
    assert changes("to_broker", fewer, Bag((("P(a)", 108_204),))) == ["to_broker: -P(b)"]
    assert changes("b", Bag(()), Bag((("R", 2),))) == ["b: +R x 2"]


def test_long_collections_are_capped() -> None:
    big = SetV(tuple(f"n{i}" for i in range(40_000)))
    assert show(big).endswith("... (+39992 more)}") and len(show(big)) < 100
    m = MapV(tuple((f"n{i}", Scalar("unplaced")) for i in range(40_000)))
    assert show(m) == "{n0..n39999: unplaced}"
    m2 = MapV(tuple((f"n{i}", Scalar("placed" if i < 20 else "unplaced")) for i in range(40_000)))
    lines = changes("broker.status", m, m2)
    assert lines[0] == "broker.status[n0]: unplaced -> placed"
    assert lines[-1] == "broker.status: ... (+12 more keys changed)" and len(lines) == 9


# --- the reason line, per property, on its variant's counterexample ---------------------------

REASONS = {
    "validate-fresh-partition-only": "PS-2 CommitTimeConsistency: committed n0 (w0) read b0@0 "
    "but the broker's seq[b0] is 1",
    "gang-fit-first-bucket-only": "PS-1 NoOvercommit: b1 used 2 > capacity 1",
    "gang-second-bucket-no-bump": "PS-5 SeqnoMonotonic: b1 seq 0 -> 0 while its claims "
    "changed (must rise by 1)",
    "rotation-skips-partition": "PS-3 BoundedStaleness: w0's data for p1 was read at cycle 0, "
    "it is cycle 2: 2 cycles old > P-1 = 1",
    "recovered-keeps-view": "PS-3 BoundedStaleness: w0's data for p0 was read at cycle 0, "
    "it is cycle 2: 2 cycles old > P-1 = 1",
    "release-keeps-ledger": "PS-4 AttributionMirror: ledger[n0] holds b0 but claims[b0] lacks n0",
    "no-dedup": "PS-8 AtMostOncePlacement: n0 placed 2 times > 1",
    "no-epoch-fencing": "PS-9 EpochFencing: committed n0 (w0) stamped epoch 0 while the "
    "broker's epoch is 1",
    "lagging-replica-failover": "PS-5 SeqnoMonotonic: b0 seq 1 -> 0 while its claims changed "
    "(must rise by 1)",
    "priority-ignored": "PS-7 PriorityOnConflict: committed n0 (w0, priority 1) while n1 "
    "(w1, priority 2) was pending on shared bucket(s) b0",
    "retry-off-by-one": "PS-6 RetryBudget: w0 proposed n0 3 times this cycle > 1 + R = 2",
    "unbounded-carry-forward": "PS-10 CarryForwardBound: w0 keeps 2 snapshots of p1 > 1",
    "propose-stamps-broker-seqno": "PS-2 CommitTimeConsistency: w1 sent b0@1 but the snapshot "
    "its fit test read holds seq 0",
    "no-reread-on-conflict": "PS-11 ReobserveAfterConflict: w0 proposed on b1 from its snapshot "
    "of p1 (read at cycle 1), not read again since a Conflict named p1",
}
#: the variants of VARIANTS and the ground-truth ones (PS-2 at Propose, PS-11)
RENDERED = (*VARIANT_NAMES, *(v.name for v in GROUND_TRUTH_VARIANTS))


def test_every_property_has_a_reason_tested() -> None:
    assert set(REASONS) == set(RENDERED)
    assert {get_variant(v).breaks for v in REASONS} == {p.id for p in PROPERTIES}


@pytest.mark.parametrize("name", RENDERED)
def test_reason_in_the_states_own_terms(name: str) -> None:
    _preset, m, tr, ids = cex(name)
    assert get_variant(name).breaks in ids
    r = tr.rendered(model=m, property_ids=ids)
    assert r.reasons[0] == REASONS[name]
    assert tr.render(model=m, property_ids=ids).endswith("\n  => " + "\n  => ".join(r.reasons))
    # the sentence is computed from the state: the step before the last breaks nothing
    a, s, t = tr.steps()[-1]
    assert explain(get_variant(name).breaks, m, s).endswith("(no witness found in this state)")


def test_the_initial_state_once_then_only_changes() -> None:
    _p, m, tr, ids = cex("priority-ignored")
    text = tr.render(model=m, property_ids=ids)
    assert text.count("workers[1].known = {}") == 1  # the initial state, in full, once
    step5 = text[text.index("  5. Commit(") :]
    assert "       broker.claims[b0]: +n0\n" in step5  # a set: what was added
    assert "       to_broker: -Proposal(w0 n0 prio=1 reads=[b0@0] epoch=0 tag=1.1)\n" in step5
    assert "workers[1]" not in step5  # unchanged variables are not repeated


# --- the prove CTI of priority-ignored / PS-7 -------------------------------------------------


def test_a_cti_with_a_huge_bag_stays_small() -> None:
    from parsync.proofs.proofs import Cti

    cfg = get_preset("pr").config
    m = ParSyncModel(cfg, "priority-ignored")
    s = m.init_state()
    hi = Proposal(1, 1, 2, 0, ((0, 0),), 0, 0, 0)
    lo = Proposal(0, 0, 1, 0, ((0, 0),), 0, 0, 0)
    pre = s._replace(to_broker=tuple(sorted([hi, *[lo] * 108_205])))
    post = m.step(pre, Commit(lo))
    assert post is not None
    cti = Cti(cfg, pre, Commit(lo), post, pid="PS-7", variant="priority-ignored")
    cti.python_post = False
    text = cti.render(width=100)
    assert len(text.encode()) < 8 * 1024, len(text)
    assert "Proposal(w0 n0 prio=1 reads=[b0@0] epoch=0 tag=0.0) x 108205" in text
    assert "to_broker: Proposal(w0 n0 prio=1 reads=[b0@0] epoch=0 tag=0.0) x 108205 -> 108204" in (
        text.replace("\n           ", " ").replace("\n              ", " ")
    )
    assert (
        "=> PS-7 PriorityOnConflict: committed n0 (w0, priority 1) while n1 (w1, priority 2)"
        in (text.replace("\n          ", " "))
    )
    assert max(len(x) for x in text.splitlines()[1:]) <= 100


def test_prove_cti_output_is_a_screen_or_two(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["prove", "--variant", "priority-ignored", "--property", "PS-7"]
    assert main([*argv, "--policy", "reference"]) == 1
    out = capsys.readouterr().out
    assert len(out.encode()) < 8 * 1024, len(out)
    assert "PS-7: goal PS-7 is not preserved by Commit[Committed]" in out
    assert "=> PS-7 PriorityOnConflict: committed n" in out
    assert " x 108205" not in out or "to_broker = {" in out  # counts, never copies
    assert out.count("Proposal(") < 20


def test_a_contract_cti_names_the_higher_priority_proposal_in_the_inbox() -> None:
    # under the contract PS-7's pending set is the broker's inbox: the reason line must
    # find the witness there, also with a model built without the policy (a prove CTI's
    # is: it said "no witness found" when it looked at the network)
    from parsync.proofs.proofs import Cti
    from parsync.render import explain

    cfg = get_preset("pr").config
    c = ParSyncModel(cfg, "priority-ignored", policy="contract")
    s = c.init_state()
    hi = Proposal(1, 1, 2, 0, ((0, 0),), 0, 0, 0)
    lo = Proposal(0, 0, 1, 0, ((0, 0),), 0, 0, 0)
    pre = s._replace(inbox=tuple(sorted([hi, *[lo] * 1_000])))
    post = c.step(pre, Commit(lo))
    assert post is not None
    why = "PS-7 PriorityOnConflict: committed n0 (w0, priority 1) while n1 (w1, priority 2)"
    for m in (c, ParSyncModel(cfg, "priority-ignored")):
        assert explain("PS-7", m, pre, Commit(lo), post).startswith(why)
    cti = Cti(cfg, pre, Commit(lo), post, pid="PS-7", variant="priority-ignored")
    cti.python_post = False
    text = " ".join(cti.render(width=100).split())
    assert "inbox = {" in text and f"=> {why}" in text and "no witness found" not in text


# --- one width for check and replay ------------------------------------------------------------


def test_check_and_replay_render_alike_at_80_columns(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    trace = tmp_path / "cex.json"
    args = ["check", "--preset", "pr", "--variant", "priority-ignored"]
    assert main([*args, "--trace-out", str(trace)]) == 1
    checked = capsys.readouterr().out
    assert main(["replay", str(trace)]) == 1
    replayed = capsys.readouterr().out
    a, b = checked[checked.index("  0. Init") :], replayed[replayed.index("  0. Init") :]
    assert a == b
    assert max(len(x) for x in a.splitlines()) <= 80
    assert "  => PS-7 PriorityOnConflict: committed n0 (w0, priority 1) while n1 (w1," in a


# --- sequence diagrams ---------------------------------------------------------------------------

ARROW = re.compile(r"^\s*(\w+)(->>|-->>|->|-->|-x|--x|-\)|--\))(\w+): (.+)$")
NOTE = re.compile(r"^\s*Note (?:over|left of|right of) (\w+)(?:,(\w+))?: (.+)$")
PART = re.compile(r"^\s*participant (\w+)(?: as (.+))?$")


def parse_mermaid(text: str) -> tuple[list[str], list[str]]:
    """(participants, message/note texts); fails on anything a sequenceDiagram cannot hold."""
    lines = text.splitlines()
    assert lines[0] == "sequenceDiagram"
    parts: list[str] = []
    texts: list[str] = []
    depth = 0
    for ln in lines[1:]:
        if m := PART.match(ln):
            assert not texts, "participants are declared before the first message"
            parts.append(m.group(1))
        elif m := ARROW.match(ln):
            assert m.group(1) in parts and m.group(3) in parts, ln
            texts.append(m.group(4))
        elif m := NOTE.match(ln):
            assert m.group(1) in parts and (m.group(2) is None or m.group(2) in parts), ln
            texts.append(m.group(3))
        elif re.match(r"^\s*rect rgb\(\d+, \d+, \d+\)$", ln):
            depth += 1
        elif ln.strip() == "end":
            depth -= 1
            assert depth >= 0
        elif ln.strip().startswith("title "):
            continue
        else:
            raise AssertionError(f"not a sequenceDiagram statement: {ln!r}")
    assert depth == 0
    for t in texts:  # no statement break or markup; entity codes (#gt;) are Mermaid's escapes
        bare = re.sub(r"#(\w+|\d+);", "", t)
        assert ";" not in bare and "#" not in bare and not re.search(r"[<>]", bare), t
    return parts, texts


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_every_variant_has_a_sequence_diagram(name: str) -> None:
    _p, m, tr, ids = cex(name)
    evs = of_trace(tr, m, ids)
    text = mermaid(m.W, evs, f"variant {name}")
    parts, texts = parse_mermaid(text)
    assert parts == [*(f"W{i}" for i in range(m.W)), "B"]
    for i, a in enumerate(tr.actions, 1):  # every step, named, in order
        assert texts[i - 1].startswith(f"{i}. {action_name(a)}") or texts[i - 1].startswith(
            f"FAULT {i}. {action_name(a)}"
        ), (i, texts[i - 1])
    assert texts[len(tr.actions) :] == [
        f"VIOLATED {r}".replace(">", "#gt;") for r in tr.rendered(model=m, property_ids=ids).reasons
    ]
    faults = [
        i for i, a in enumerate(tr.actions, 1) if isinstance(a, (Crash, Drop, Duplicate, Failover))
    ]
    for i in faults:  # a fault is marked: inside a red rect, with FAULT in its text
        block = re.search(rf"rect rgb\(255, 228, 225\)\n\s+.*FAULT {i}\. .*\n\s+end", text)
        assert block, (i, text)
    # the SVG: one row per event, plain elements, nothing external
    doc = svg(m.W, evs, name)
    root = ET.fromstring(doc)
    ns = "{http://www.w3.org/2000/svg}"
    labels = [t.text or "" for t in root.iter(f"{ns}text")]
    for i in range(1, len(tr.actions) + 1):
        assert any(re.match(rf"(FAULT )?{i}\. ", x) for x in labels), i
    assert not list(root.iter(f"{ns}script")) and "href" not in doc
    page = html(m.W, evs, name, tr.render(model=m, property_ids=ids))
    assert "<script" not in page and "<svg" in page and "sequenceDiagram" in page


def test_faults_are_drawn_as_faults() -> None:
    _p, m, tr, ids = cex("no-dedup")
    kinds = {type(a).__name__ for a in tr.actions}
    evs = events(tr.steps())
    text = mermaid(m.W, evs)
    if "Drop" in kinds:
        assert re.search(r"\w+-x\w+: FAULT \d+\. Drop", text)
    if "Crash" in kinds:
        assert re.search(r"Note over W\d: FAULT \d+\. Crash", text)
    assert kinds & {"Drop", "Crash"}


def test_check_writes_the_diagram_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    mm, sv, ht = tmp_path / "d.mmd", tmp_path / "d.svg", tmp_path / "d.html"
    code = main(
        [
            "check",
            "--variant",
            "no-epoch-fencing",
            "--mermaid-out",
            str(mm),
            "--svg-out",
            str(sv),
            "--html-out",
            str(ht),
        ]
    )
    assert code == 1
    parts, texts = parse_mermaid(mm.read_text(encoding="utf-8"))
    assert texts[-1].startswith("VIOLATED PS-9 EpochFencing")
    ET.fromstring(sv.read_text(encoding="utf-8"))
    assert "<svg" in ht.read_text(encoding="utf-8")
    code = main(
        ["check", "--variant", "no-epoch-fencing", "--mermaid-out", str(tmp_path / "no" / "x")]
    )
    assert code == 2 and "cannot write" in capsys.readouterr().err


# --- ITF ------------------------------------------------------------------------------------


def spec_variables() -> list[str]:
    text = (ROOT / "spec" / "ParSync.tla").read_text(encoding="utf-8")
    block = re.search(r"^VARIABLES\n(.*?)\n\n", text, flags=re.M | re.S)
    assert block
    return [re.sub(r"\\\*.*", "", ln).strip(" ,") for ln in block.group(1).splitlines()]


def _no_plain_numbers(v: Any, where: str) -> None:
    if isinstance(v, bool) or isinstance(v, str):
        return
    assert not isinstance(v, (int, float)), f"{where}: a plain number ({v}) where #bigint is due"
    if isinstance(v, dict):
        for k, x in v.items():
            _no_plain_numbers(x, f"{where}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _no_plain_numbers(x, f"{where}[{i}]")


@pytest.mark.parametrize("name", VARIANT_NAMES)
def test_itf_is_typed_as_the_spec(name: str) -> None:
    _p, m, tr, ids = cex(name)
    schema = json.loads((ROOT / "spec" / "itf.schema.json").read_text(encoding="utf-8"))
    doc = json.loads(json.dumps(tr.to_itf(m.config, {"variant": name, "property": ids[0]})))
    jsonschema.validate(doc, schema)
    assert (
        doc["vars"]
        == spec_variables()
        == ["broker", "workers", "to_broker", "to_workers", "faults", "placed", "inbox"]
    )
    for i, (st, s) in enumerate(zip(doc["states"], (tr.init, *tr.states), strict=True)):
        assert set(st) == {*doc["vars"], "#meta"}
        body = {k: v for k, v in st.items() if k != "#meta"}
        _no_plain_numbers(body, f"state {i}")
        assert state_from_itf(m.config, st) == spec_projection(s)
        assert set(st["broker"]) == {"epoch", "seq", "claims", "ledger", "status"}
        assert set(st["faults"]) == {"crash", "drop", "dup"}
        for _k, w in st["workers"]["#map"]:
            assert set(w["known"]) == {"#set"} and isinstance(w["pending"], list)
        for msg, count in st["to_workers"]["#map"]:
            assert msg["kind"] in ("Committed", "Conflict", "AlreadyPlaced", "Fenced")
            assert set(msg["buckets"]) == {"#set"} and set(count) == {"#bigint"}
        for msg, _count in st["to_broker"]["#map"]:
            assert all(set(t) == {"#tup"} for t in msg["reads"]["#set"])
    with pytest.raises(jsonschema.ValidationError):
        bad = json.loads(json.dumps(doc))
        bad["states"][0]["broker"]["epoch"] = {"#bigint": 0}
        jsonschema.validate(bad, schema)


def test_variants_are_all_covered() -> None:
    assert len(VARIANTS) + len(GROUND_TRUTH_VARIANTS) == len(REASONS)


# --- conformance: the diff uses the renderer's set changes -----------------------------------


def test_conformance_diff_shows_set_changes_per_key() -> None:
    from parsync.conformance.observe import Projection, describe_diff

    observed = Projection((0, (1, 0), ((0, 1), ()), ((0,), (0,))), (), ())
    allowed = Projection((0, (1, 0), ((0,), ()), ((0,), ())), (), ())
    assert describe_diff(observed, allowed) == [
        "broker.claims[b0]: observed [0, 1], model allows [0] (observed +n1)",
        "broker.ledger[n1]: observed [0], model allows [] (observed +b0)",
    ]
    many = Projection(
        (0, (), (), ()), (), tuple(("worker", 0, n, "Committed", ()) for n in range(50))
    )
    none = Projection((0, (), (), ()), (), ())
    (line,) = describe_diff(many, none)
    assert line.startswith("messages only observed: Committed(w0 n0)") and "(+42 more)" in line


def test_the_guides_counterexample_is_what_check_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/guide.md section 4: every shown line of the trace is printed, in order."""
    guide = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    head = "PS-9 EpochFencing violated after 5 steps (a shortest counterexample):\n"
    block = guide[guide.index(head) + len(head) :].split("```", 1)[0]
    shown = [x for x in block.splitlines() if x.strip() not in ("", "...")]
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["check", "--variant", "no-epoch-fencing"]) == 1
    out = capsys.readouterr().out
    lines = out[out.index(head) + len(head) :].splitlines()
    at = 0
    for x in shown:
        assert x in lines[at:], x
        at = lines.index(x, at) + 1
    assert len(shown) > 30


def test_a_conformance_interleaving_as_a_diagram() -> None:
    from parsync.conformance.driver import Step
    from parsync.diagram import step_events

    prop = ("broker", 1, 0, 0, 2, ((0, 3),))
    reply = ("worker", 0, 1, "Conflict", (0,))
    steps = [
        Step("start_cycle", 0),
        Step("schedule", 1),
        Step("duplicate", prop),
        Step("broker_step"),
        Step("deliver", reply),
        Step("drop", reply),
        Step("crash", 1),
        Step("failover"),
        Step("release", 2),
    ]
    text = mermaid(2, step_events(steps, "divergence at step 9"))
    parts, texts = parse_mermaid(text)
    assert parts == ["W0", "W1", "B"]
    assert [t.split(" ")[0] for t in texts[:2]] == ["1.", "2."]
    for i, st in enumerate(steps, 1):
        assert re.match(rf"(FAULT )?{i}\. {st.kind}\b", texts[i - 1]), texts[i - 1]
    assert "W1-)B: FAULT 3. duplicate proposal n0 prio 2 reads b0@3 epoch 0" in text
    assert "B->>W0: 5. deliver Conflict n1 on b0" in text and "B-xW0: FAULT 6. drop" in text
    assert texts[-1] == "FAILED divergence at step 9"


def test_bmc_prints_its_counterexample_with_the_same_renderer(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # the contract by default: both proposals reach the broker's inbox (two Delivers)
    assert main(["bmc", "--variant", "priority-ignored", "--depth", "7"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION of PS-7 at depth 7" in out
    assert "  0. Init\n" in out and "  7. Commit(Proposal(" in out
    assert "\n       inbox: +Proposal(w0 n0 prio=1" in out
    assert re.search(r"\n       broker\.claims\[b(\d)\]: \+n0\n", out)
    assert "  => PS-7 PriorityOnConflict: committed n0 (w0, priority 1) while n1" in out
    assert out.count("  0. Init") == 1 and "workers[1].known = {}" in out
