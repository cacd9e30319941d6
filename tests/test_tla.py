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
