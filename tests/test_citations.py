"""docs/adr-citations.md: current against its records, and its verdicts follow them.

The file is generated (``parsync cite --write``) from the catalogue, the
manifest, the proof report and the simulation record; a stale copy fails here,
so a sentence pasted into ADR-0031 never cites an outdated verdict.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from parsync.citations import DEFAULT_OUT, REGENERATE, evidence, load, render

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_citations_are_current() -> None:
    assert DEFAULT_OUT.read_text(encoding="utf-8") == render(load()), (
        f"docs/adr-citations.md is stale; regenerate with `{REGENERATE}`"
    )


def test_every_adr_sentence_of_the_catalogue_is_cited() -> None:
    text = render(load())
    cat = json.loads((ROOT / "spec" / "properties.json").read_text(encoding="utf-8"))
    for p in cat["properties"]:
        for q in [p["formalises"], *p.get("see_also", [])]:
            if q.get("source") == "ADR-0031":
                assert f"> {q['quote']}" in text, (p["id"], q["quote"])
        assert f"| {p['id']} {p['name']} |" in text


def test_records_are_complete() -> None:
    r = load()
    assert r.missing == []
    # the proof report's contract section is read: every safety property has a row
    assert {f"PS-{i}" for i in range(1, 11)} <= set(r.contract_proofs)
    assert r.contract_proofs.keys() <= r.proofs.keys()


def _prop(pid: str) -> dict[str, object]:
    cat = json.loads((ROOT / "spec" / "properties.json").read_text(encoding="utf-8"))
    return next(p for p in cat["properties"] if p["id"] == pid)


def test_a_failed_check_or_proof_changes_the_verdict() -> None:
    r = load()
    assert evidence(r, _prop("PS-2"))[0] == "holds for every size and every policy"
    # without the contract's proof the claim is about the reference policy only
    ref_only = copy.deepcopy(r)
    ref_only.contract_proofs = {}
    assert evidence(ref_only, _prop("PS-2"))[0] == "holds for every size"
    bad = copy.deepcopy(r)
    bad.contract_proofs["PS-2"] = ("CTI", "3/4")
    verdict, text = evidence(bad, _prop("PS-2"))
    assert verdict == "holds for every size"
    assert "Z3 on the contract, for every policy the contract allows: CTI (3/4" in text
    bad = copy.deepcopy(r)
    bad.manifest["presets"]["pr"]["verdict"] = "violation"
    assert evidence(bad, _prop("PS-2"))[0] == "see evidence"
    bad = copy.deepcopy(r)
    bad.proofs["PS-2"] = ("CTI", "3/4")
    verdict, text = evidence(bad, _prop("PS-2"))
    assert verdict == "holds in the checked scopes" and "Z3: CTI (3/4 obligations)" in text
    bad = copy.deepcopy(r)
    bad.manifest["liveness"] = {
        "small": {
            "verdict": "violation",
            "violated": ["PS-L1"],
            "states": 5,
            "properties": ["PS-L1"],
        }
    }
    assert evidence(bad, _prop("PS-L1"))[0] == "violated"


def test_cite_check_fails_on_a_stale_copy(tmp_path: Path) -> None:
    stale = tmp_path / "adr-citations.md"
    shutil.copy(DEFAULT_OUT, stale)
    stale.write_text(stale.read_text(encoding="utf-8").replace("holds", "held", 1))
    r = subprocess.run(
        [sys.executable, "-m", "parsync.cli", "cite", "--check", str(stale)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 1 and "stale" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "parsync.cli", "cite", "--check", str(tmp_path / "none.md")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 2 and "cannot read" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("word", ["agrees", "disagrees", "partly"])
def test_the_simulated_claims_carry_their_verdicts(word: str) -> None:
    sim = load().simulation
    assert sim is not None
    assert any(f["verdict"] == word for f in sim["findings"])
    assert any(f"| {word} |" in line for line in render(load()).splitlines())
