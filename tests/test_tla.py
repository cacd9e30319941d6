"""spec/ParSync.tla stays in step with the Python model.

Every action of model/actions.py (the reference's and the contract's) is
defined in the TLA+ module and is a disjunct of Next, and Next has no other;
every property of the catalogue (PS-1..PS-11, PS-L1..PS-L3) is defined under its
ID, and no other ID is; MCParSync.cfg (reference policy) and
MCParSyncContract.cfg (contract policy) are the ``small`` preset and check each
safety property in the right section; the modules parse with the offline
``tla`` parser (PyPI ``tla``, optional extra ``tla``; skipped when it is not
installed). With the TLA+ tools (``PARSYNC_TLA2TOOLS`` or the shared jar;
skipped with the reason otherwise), SANY loads every module and TLC's counts
equal the Python checker's on ``small`` under both policies (the contract's
run, a few minutes, under the ``slow`` marker), and TLC reports the property a
mutated spec breaks (AttributionMirror under the reference; RetryBudget under
the contract, ``slow``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_policy import CONTRACT_SMALL

from parsync import tlc
from parsync.model.actions import ACTION_NAMES, CONTRACT_ACTION_NAMES
from parsync.model.presets import get_preset
from parsync.model.properties import PROPERTIES

SPEC = Path(__file__).resolve().parent.parent / "spec"
TLA = (SPEC / "ParSync.tla").read_text(encoding="utf-8")
MC = (SPEC / "MCParSync.tla").read_text(encoding="utf-8")
MC_CONTRACT = (SPEC / "MCParSyncContract.tla").read_text(encoding="utf-8")
CFG = (SPEC / "MCParSync.cfg").read_text(encoding="utf-8")
CFGS = {m.policy: (SPEC / f"{m.module}.cfg").read_text(encoding="utf-8") for m in tlc.MODELS}
MODELS = {m.policy: m for m in tlc.MODELS}
CATALOGUE = json.loads((SPEC / "properties.json").read_text(encoding="utf-8"))["properties"]


def _next_disjuncts() -> list[str]:
    body = TLA.split("\nNext ==", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\s*\\/ (?:\\E [^:]+: )?(\w+)", body, re.M)


def test_every_action_is_defined_and_in_next() -> None:
    for name in ACTION_NAMES:
        assert re.search(rf"^{name}(\([\w, ]+\))? ==", TLA, re.M), f"{name} is not defined"
    for name in CONTRACT_ACTION_NAMES:
        assert re.search(rf"^{name}(\([\w, ]+\))? ==\n    /\\ Contract$", TLA, re.M), (
            f"{name} is not defined, or not guarded by Contract"
        )
    assert _next_disjuncts() == [*ACTION_NAMES, *CONTRACT_ACTION_NAMES]


def test_every_property_is_defined_under_its_id() -> None:
    found = dict(re.findall(r"^\\\* (PS-L?\d+)\n(\w+) ==", TLA, re.M))
    assert found == {p["id"]: p["name"] for p in CATALOGUE}


def test_one_model_per_policy() -> None:
    from parsync.model.protocol import POLICIES

    assert sorted(MODELS) == sorted(POLICIES)
    assert [m.key for m in tlc.MODELS] == ["small", "small_contract"]
    assert all(
        f"spec/{m.module}.{ext}" in tlc.TLA_SOURCES for m in tlc.MODELS for ext in "tla cfg".split()
    )
    assert "EXTENDS MCParSync\n" in MC_CONTRACT  # the contract model: the same constants


@pytest.mark.parametrize("policy", sorted(CFGS))
def test_config_is_the_small_preset(policy: str) -> None:
    c = get_preset("small").config
    cfg = CFGS[policy]
    consts = dict(re.findall(r"^\s+(\w+) = (\S+)$", cfg, re.M))
    assert consts == {
        "Policy": f'"{policy}"',
        "W": str(c.workers),
        "P": str(c.partitions),
        "R": str(c.retry_budget),
        "Strategy": f'"{c.strategy}"',
        "MaxCycle": str(c.max_cycle),
        "MaxCrash": str(c.faults.crash),
        "MaxDrop": str(c.faults.drop),
        "MaxDup": str(c.faults.duplicate),
        "MaxFailover": str(c.faults.failover),
        "MaxTimeout": str(c.faults.timeout),
        "MaxExtraRead": str(c.faults.extra_read),
    }
    assert f"MCCapacity == <<{', '.join(map(str, c.capacities))}>>" in MC
    owners = [n.owner for n in c.needs]
    assert owners == [1 if n == 1 else 0 for n in range(3)]  # MCOwner
    assert [n.priority for n in c.needs] == [2 if n == 1 else 1 for n in range(3)]
    assert [n.arrival for n in c.needs] == [2 if n == 2 else 1 for n in range(3)]
    assert [n.gang for n in c.needs] == [2 if n == 2 else 1 for n in range(3)]
    assert [c.partition_of(b) for b in range(c.buckets)] == [b % 2 for b in range(2)]


@pytest.mark.parametrize("policy", sorted(CFGS))
def test_config_checks_every_safety_property_in_its_section(policy: str) -> None:
    cfg = CFGS[policy]
    invariants = cfg.split("INVARIANTS", 1)[1].split("PROPERTIES", 1)[0].split()
    temporal = cfg.split("PROPERTIES", 1)[1].split()
    assert invariants == ["TypeOK", *(p.name for p in PROPERTIES if p.kind == "state")]
    assert temporal == [p.name for p in PROPERTIES if p.kind == "action"]


@pytest.mark.parametrize(
    "text", [TLA, MC, MC_CONTRACT], ids=["ParSync.tla", "MCParSync.tla", "MCParSyncContract.tla"]
)
def test_modules_parse(text: str) -> None:
    tla = pytest.importorskip("tla", reason="the offline TLA+ parser: pip install '.[tla]'")
    assert tla.parse(text) is not None


# --- the TLA+ tools themselves (SANY, TLC): skipped with the reason when absent -----


def _jar() -> Path:
    try:
        return tlc.find_tla2tools()
    except tlc.TlaToolsMissing as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("module", ["ParSync.tla", "MCParSync.tla", "MCParSyncContract.tla"])
def test_sany_loads_the_spec(module: str) -> None:
    r = tlc.sany(_jar(), module=module)
    assert r.ok, "\n".join(r.errors) or r.output


def test_sany_reports_a_broken_module(tmp_path: Path) -> None:
    """The SANY check can fail: the spec without Integers (its unary minus and Int)."""
    for name in (Path(s).name for s in tlc.TLA_SOURCES):
        (tmp_path / name).write_text((SPEC / name).read_text(encoding="utf-8"), encoding="utf-8")
    broken = TLA.replace("EXTENDS Integers,", "EXTENDS Naturals,")
    assert broken != TLA
    (tmp_path / "ParSync.tla").write_text(broken, encoding="utf-8")
    r = tlc.sany(_jar(), spec=tmp_path)
    assert not r.ok
    assert any("Int" in e or "Unknown operator" in e or "Errors" in e for e in r.errors)


TLC_OUTPUT = """TLC2 Version 2.18 of 20 March 2023 (rev: 3ea3222)
Finished computing initial states: 1 distinct state generated at 2026-12-03 15:30:22.
Progress(12) at 2026-12-03 15:30:25: 16,501 states generated (16,501 s/min), 8,035 \
distinct states found (8,035 ds/min), 3,317 states left on queue.
Model checking completed. No error has been found.
257201 states generated, 111204 distinct states found, 0 states left on queue.
The depth of the complete state graph search is 34.
""".replace("\\\n", "")


def test_tlc_summary_is_read_from_the_closing_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """The progress lines use the same words as the summary: the counts are the last
    ones (a first version read 8,035 off a progress line)."""
    import subprocess

    done = subprocess.CompletedProcess(args=[], returncode=0, stdout=TLC_OUTPUT, stderr="")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: done)
    r = tlc.run_tlc(Path("tla2tools.jar"))
    assert (r.ok, r.distinct, r.generated, r.depth, r.version) == (
        True,
        111_204,
        257_201,
        34,
        "2.18",
    )


def _python_counts(policy: str) -> tuple[int, int, int]:
    """The Python checker's pinned (states, transitions, depth) on small: the manifest's
    record for the reference, tests/test_policy.py's for the contract."""
    if policy == "contract":
        return CONTRACT_SMALL
    e = json.loads((SPEC / "manifest.json").read_text(encoding="utf-8"))["presets"]["small"]
    return e["states"], e["transitions"], e["depth"]


@pytest.mark.parametrize("policy", sorted(MODELS))
def test_tlc_record_equals_the_python_checker_on_small(policy: str) -> None:
    """The manifest's ``tlc`` record is current (its TLA+ sources hash) and, per policy,
    TLC's counts equal the Python checker's: the same distinct states, one more
    generated state (TLC counts the initial state), one more depth (TLC's starts at 1)."""
    rec = json.loads((SPEC / "manifest.json").read_text(encoding="utf-8"))["tlc"]
    assert rec["tla_hash"] == tlc.tla_hash(), (
        "spec/*.tla changed: parsync manifest --write --tlc-only"
    )
    model = MODELS[policy]
    got = rec[model.key]
    states, transitions, depth = _python_counts(policy)
    assert (got["policy"], got["module"], got["verdict"]) == (policy, model.module, "pass")
    assert (got["distinct"], got["generated"], got["depth"]) == (states, transitions + 1, depth + 1)


def _tlc_equals_the_record(policy: str) -> None:
    model = MODELS[policy]
    r = tlc.run_tlc(_jar(), workers="2", module=model.module)
    assert r.ok, r.error or r.output[-2000:]
    states, transitions, depth = _python_counts(policy)
    assert (r.distinct, r.generated, r.depth) == (states, transitions + 1, depth + 1)
    rec = json.loads((SPEC / "manifest.json").read_text(encoding="utf-8"))["tlc"][model.key]
    assert {k: rec[k] for k in ("verdict", "distinct", "generated", "depth")} == {
        "verdict": "pass",
        "distinct": r.distinct,
        "generated": r.generated,
        "depth": r.depth,
    }


def test_tlc_counts_equal_the_python_checker_on_small() -> None:
    """TLC on MCParSync (small, reference policy) finds exactly the distinct states and
    transitions the Python BFS does, every invariant (TypeOK included) and action
    property holds, and the manifest's ``tlc`` record is this run's."""
    _tlc_equals_the_record("reference")


@pytest.mark.slow
def test_tlc_counts_equal_the_python_checker_on_small_contract() -> None:
    """The same on MCParSyncContract (small, contract policy): 1,614,092 states, several
    minutes of TLC (``slow``)."""
    _tlc_equals_the_record("contract")


def test_tlc_finds_a_violation(tmp_path: Path) -> None:
    """The TLC check can fail: a Release that keeps the ledger entry (the
    release-keeps-ledger variant) breaks PS-4 AttributionMirror, and TLC names it."""
    for name in (Path(s).name for s in tlc.TLA_SOURCES):
        (tmp_path / name).write_text((SPEC / name).read_text(encoding="utf-8"), encoding="utf-8")
    broken = TLA.replace("          !.ledger[n] = {},\n", "")
    assert broken != TLA
    (tmp_path / "ParSync.tla").write_text(broken, encoding="utf-8")
    r = tlc.run_tlc(_jar(), spec=tmp_path, workers="2")
    assert not r.ok
    assert r.error == "Error: Invariant AttributionMirror is violated."


@pytest.mark.slow
def test_tlc_finds_a_violation_of_the_contract(tmp_path: Path) -> None:
    """The contract's own checks can fail too: the retry-resets-tag variant (a Conflict
    or Fenced reply resets the attempt tag and the retry counter together) breaks PS-6
    RetryBudget on MCParSyncContract, which counts the ghost sent; TLC finds it within a
    dozen steps, as the Python checker does (20 s of CPU, up to 90 s on a busy machine:
    ``slow``)."""
    for name in (Path(s).name for s in tlc.TLA_SOURCES):
        (tmp_path / name).write_text((SPEC / name).read_text(encoding="utf-8"), encoding="utf-8")
    old = (
        "        retried == IF wr.retries + 1 > R THEN NextNeed(narrowed)\n"
        "                   ELSE [narrowed EXCEPT !.waiting = FALSE, !.retries = @ + 1]\n"
    )
    new = "        retried == [narrowed EXCEPT !.waiting = FALSE, !.retries = 0, !.attempts = 0]\n"
    assert old in TLA
    (tmp_path / "ParSync.tla").write_text(TLA.replace(old, new), encoding="utf-8")
    r = tlc.run_tlc(_jar(), spec=tmp_path, workers="2", module="MCParSyncContract")
    assert not r.ok
    assert r.error == "Error: Invariant RetryBudget is violated."


# --- parsync manifest --write --tlc-only: TLC's section alone ------------------------


def test_tlc_only_rewrites_the_tlc_section_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every other field of the manifest is written back unchanged (TLC stubbed)."""
    from parsync.cli import main

    path = tmp_path / "manifest.json"
    before = json.loads((SPEC / "manifest.json").read_text(encoding="utf-8"))
    path.write_text(json.dumps(before), encoding="utf-8")
    entry = {"note": "stub", "tla_hash": "sha256:0", "small": {"verdict": "pass"}}
    entry["small_contract"] = {"verdict": "pass"}
    monkeypatch.setattr(tlc, "find_tla2tools", lambda: Path("tla2tools.jar"))
    monkeypatch.setattr(tlc, "manifest_entry", lambda jar, **kw: entry)
    assert main(["manifest", "--write", "--tlc-only", "--file", str(path)]) == 0
    after = json.loads(path.read_text(encoding="utf-8"))
    assert after == {**before, "tlc": entry}
    assert "tlc only" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [["--tlc-only"], ["--check", "--tlc-only"], ["--write", "--tlc-only", "--preset", "small"]],
)
def test_tlc_only_goes_with_write_alone(args: list[str]) -> None:
    from parsync.cli import main
    from parsync.errors import EXIT_USAGE

    assert main(["manifest", *args]) == EXIT_USAGE


def test_a_partial_manifest_rewrite_keeps_a_current_tlc_record(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``manifest --write --preset NAME`` keeps TLC's record while the TLA+ sources are
    unchanged (TLC on the contract takes minutes); ``--tlc-only`` or a full ``--write``
    runs TLC again."""
    from parsync.cli import _record_tlc

    current = {"tlc": {"tla_hash": tlc.tla_hash(), "small": {"distinct": 1}}}
    _record_tlc(current, keep_current=True)
    assert current["tlc"]["small"] == {"distinct": 1}
    assert "kept the recorded entry (TLA+ sources unchanged" in capsys.readouterr().out
