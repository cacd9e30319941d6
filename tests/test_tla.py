"""spec/ParSync.tla stays in step with the Python model.

Every action of model/actions.py is defined in the TLA+ module and is a
disjunct of Next, and Next has no other; every property of the catalogue
(PS-1..PS-10, PS-L1..PS-L3) is defined under its ID, and no other ID is;
MCParSync.cfg is the ``small`` preset and checks each safety property in the
right section; both modules parse with the offline ``tla`` parser (PyPI
``tla``, optional extra ``tla``; skipped when it is not installed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from parsync.model.actions import ACTION_NAMES
from parsync.model.presets import get_preset
from parsync.model.properties import PROPERTIES

SPEC = Path(__file__).resolve().parent.parent / "spec"
TLA = (SPEC / "ParSync.tla").read_text(encoding="utf-8")
MC = (SPEC / "MCParSync.tla").read_text(encoding="utf-8")
CFG = (SPEC / "MCParSync.cfg").read_text(encoding="utf-8")
CATALOGUE = json.loads((SPEC / "properties.json").read_text(encoding="utf-8"))["properties"]


def _next_disjuncts() -> list[str]:
    body = TLA.split("\nNext ==", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^\s*\\/ (?:\\E [^:]+: )?(\w+)", body, re.M)


def test_every_action_is_defined_and_in_next() -> None:
    for name in ACTION_NAMES:
        assert re.search(rf"^{name}(\([\w, ]+\))? ==", TLA, re.M), f"{name} is not defined"
    assert _next_disjuncts() == list(ACTION_NAMES)


def test_every_property_is_defined_under_its_id() -> None:
    found = dict(re.findall(r"^\\\* (PS-L?\d+)\n(\w+) ==", TLA, re.M))
    assert found == {p["id"]: p["name"] for p in CATALOGUE}


def test_config_is_the_small_preset() -> None:
    c = get_preset("small").config
    consts = dict(re.findall(r"^\s+(\w+) = (\S+)$", CFG, re.M))
    assert consts == {
        "W": str(c.workers),
        "P": str(c.partitions),
        "R": str(c.retry_budget),
        "Strategy": f'"{c.strategy}"',
        "MaxCycle": str(c.max_cycle),
        "MaxCrash": str(c.faults.crash),
        "MaxDrop": str(c.faults.drop),
        "MaxDup": str(c.faults.duplicate),
        "MaxFailover": str(c.faults.failover),
    }
    assert f"MCCapacity == <<{', '.join(map(str, c.capacities))}>>" in MC
    owners = [n.owner for n in c.needs]
    assert owners == [1 if n == 1 else 0 for n in range(3)]  # MCOwner
    assert [n.priority for n in c.needs] == [2 if n == 1 else 1 for n in range(3)]
    assert [n.arrival for n in c.needs] == [2 if n == 2 else 1 for n in range(3)]
    assert [n.gang for n in c.needs] == [2 if n == 2 else 1 for n in range(3)]
    assert [c.partition_of(b) for b in range(c.buckets)] == [b % 2 for b in range(2)]


def test_config_checks_every_safety_property_in_its_section() -> None:
    invariants = CFG.split("INVARIANTS", 1)[1].split("PROPERTIES", 1)[0].split()
    temporal = CFG.split("PROPERTIES", 1)[1].split()
    assert invariants == ["TypeOK", *(p.name for p in PROPERTIES if p.kind == "state")]
    assert temporal == [p.name for p in PROPERTIES if p.kind == "action"]


@pytest.mark.parametrize("text", [TLA, MC], ids=["ParSync.tla", "MCParSync.tla"])
def test_modules_parse(text: str) -> None:
    tla = pytest.importorskip("tla", reason="the offline TLA+ parser: pip install '.[tla]'")
    assert tla.parse(text) is not None


# --- the TLA+ tools themselves (SANY, TLC): skipped with the reason when absent -----


def _jar() -> Path:
    from parsync import tlc

    try:
        return tlc.find_tla2tools()
    except tlc.TlaToolsMissing as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("module", ["ParSync.tla", "MCParSync.tla"])
def test_sany_loads_the_spec(module: str) -> None:
    from parsync import tlc

    r = tlc.sany(_jar(), module=module)
    assert r.ok, "\n".join(r.errors) or r.output


def test_sany_reports_a_broken_module(tmp_path: Path) -> None:
    """The SANY check can fail: the spec without Integers (its unary minus and Int)."""
    from parsync import tlc

    for name in ("ParSync.tla", "MCParSync.tla", "MCParSync.cfg"):
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

    from parsync import tlc

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


def test_tlc_counts_equal_the_python_checker_on_small() -> None:
    """TLC on MCParSync (small) finds exactly the distinct states the Python BFS does,
    every invariant (TypeOK included) and action property holds, and the manifest's
    ``tlc`` record is this run's."""
    from parsync import tlc

    r = tlc.run_tlc(_jar())
    assert r.ok, r.error or r.output[-2000:]
    manifest = json.loads((SPEC / "manifest.json").read_text(encoding="utf-8"))
    python = manifest["presets"]["small"]
    assert r.distinct == python["states"]
    assert r.generated == python["transitions"] + 1  # TLC counts the initial state
    assert r.depth == python["depth"] + 1  # TLC's depth starts at 1
    rec = manifest["tlc"]
    assert rec["tla_hash"] == tlc.tla_hash(), "spec/*.tla changed: parsync manifest --write"
    assert {k: rec["small"][k] for k in ("verdict", "distinct", "generated", "depth")} == {
        "verdict": "pass",
        "distinct": r.distinct,
        "generated": r.generated,
        "depth": r.depth,
    }


def test_tlc_finds_a_violation(tmp_path: Path) -> None:
    """The TLC check can fail: a Release that keeps the ledger entry (the
    release-keeps-ledger variant) breaks PS-4 AttributionMirror, and TLC names it."""
    from parsync import tlc

    for name in ("ParSync.tla", "MCParSync.tla", "MCParSync.cfg"):
        (tmp_path / name).write_text((SPEC / name).read_text(encoding="utf-8"), encoding="utf-8")
    broken = TLA.replace("          !.ledger[n] = {},\n", "")
    assert broken != TLA
    (tmp_path / "ParSync.tla").write_text(broken, encoding="utf-8")
    r = tlc.run_tlc(_jar(), spec=tmp_path)
    assert not r.ok
    assert r.error == "Error: Invariant AttributionMirror is violated."
