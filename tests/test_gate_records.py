"""``parsync gate`` reports the recorded check/liveness/prove results of the installed model.

The decision (record or re-run) is tested in-process with the three model
stages replaced by stubs that say they ran, so no test here runs a minute-long
check: a record whose hashes match is served; a doctored hash, ``--recheck``,
a ``--variant`` and an install without records each make the stage run. The
shipped records (parsync/records/) are the checkout's own files, and their
hashes are computed from the package the way the manifest and the proof
report compute theirs.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from parsync import gate, records
from parsync.engines.liveness import liveness_scope_for
from parsync.gate import PASSED, GateOptions, StageResult, junit_xml, markdown, run_gate
from parsync.manifest import spec_hash
from parsync.model.presets import get_preset
from parsync.proofs.report import source_hash

ROOT = Path(__file__).resolve().parents[1]


def _write_records(
    d: Path, *, spec: str | None = None, sources: str | None = None
) -> dict[str, Any]:
    """A records directory whose hashes are the current ones unless doctored."""
    d.mkdir(parents=True, exist_ok=True)
    scope, cfg = liveness_scope_for("pr")
    manifest = {
        "format": "parsync-manifest/1",
        "spec_hash": spec or records.current_spec_hash(),
        "presets": {
            "pr": {
                "config": get_preset("pr").config.describe(),
                "verdict": "pass",
                "states": 12_345,
                "transitions": 67_890,
                "depth": 36,
            }
        },
        "contract": {  # what the gate reports by default (--policy contract)
            "pr": {
                "config": get_preset("pr").config_for("contract").describe(),
                "verdict": "pass",
                "states": 54_321,
                "transitions": 98_760,
                "depth": 30,
            }
        },
        "liveness": {
            scope: {
                "config": cfg.describe(),
                "verdict": "pass",
                "states": 4_321,
                "transitions": 8_765,
            }
        },
    }
    proofs: dict[str, Any] = {
        "format": records.PROOF_SUMMARY_FORMAT,
        "verdict": "proved",
        "sources_hash": sources or records.current_sources_hash(),
        "obligations": 7,
        "proved": 7,
        "properties": {"TypeOK": {}, "PS-1": {}},
        "nonvacuous": {"actions": 3, "witnessed": 3},
        "contract": {
            "verdict": "proved",
            "obligations": 9,
            "proved": 9,
            "properties": {"TypeOK": {}, "PS-1": {}},
            "nonvacuous": {"actions": 4, "witnessed": 4},
        },
    }
    (d / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (d / "proofs.json").write_text(json.dumps(proofs), encoding="utf-8")
    return manifest


@pytest.fixture
def ran(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The model stages as stubs that record that they ran."""
    calls: list[str] = []

    def stub(stage: str) -> Any:
        def run(*_a: Any, **_k: Any) -> StageResult:
            calls.append(stage)
            return StageResult(stage, PASSED, 1.0, {"states": 1}, f"{stage} ran")

        return run

    for stage in ("check", "liveness", "prove"):
        monkeypatch.setattr(gate, f"run_{stage}", stub(stage))
    return calls


def _use(monkeypatch: pytest.MonkeyPatch, d: Path) -> None:
    monkeypatch.setattr(records, "RECORDS", d)


def test_matching_hashes_serve_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _write_records(tmp_path / "rec")
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr"))
    assert ran == []  # nothing re-run
    assert [s.stage for s in g.stages] == ["check", "liveness", "prove"] and g.ok
    check, live, prove = g.stages
    h = records.current_spec_hash()
    assert h is not None
    # the contract by default: its records (the manifest's contract table, the proof
    # summary's contract section)
    assert check.summary == (
        "recorded: pass (54,321 states, 98,760 transitions) for sources "
        f"{h.removeprefix('sha256:')[:12]}"
    )
    assert check.counts == {"states": 54_321, "transitions": 98_760, "depth": 30}
    assert live.summary.startswith("recorded: pass (small: 4,321 states")
    assert prove.summary.startswith("recorded: pass (9/9 obligations proved")
    assert all(s.recorded is not None and s.seconds == 0.0 for s in g.stages)
    # every report says recorded, not run
    js = g.to_json()
    assert [s["run"] for s in js["stages"]] == ["recorded"] * 3
    assert js["stages"][0]["recorded"]["hash"] == h
    root = ET.fromstring(junit_xml(g).split("\n", 1)[1])
    for suite in root.iter("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.iter("property")}
        assert props["run"] == "recorded"
        assert str(props["recorded_hash"]).startswith("sha256:")
        outs = [tc.findtext("system-out") or "" for tc in suite.iter("testcase")]
        assert outs and all(o.startswith("recorded, not run: recorded: pass") for o in outs)
    md = markdown(g)
    assert "| check | ✅ pass (recorded) | recorded |" in md
    assert "recorded, not run: check (`parsync/records/manifest.json`" in md
    assert "`--recheck` runs them" in md


def test_the_reference_policy_serves_the_reference_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _write_records(tmp_path / "rec")
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr", policy="reference"))
    assert ran == []
    check, _live, prove = g.stages
    assert check.counts == {"states": 12_345, "transitions": 67_890, "depth": 36}
    assert prove.summary.startswith("recorded: pass (7/7 obligations proved")


def test_no_contract_record_reruns_the_contract_stages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    m = _write_records(tmp_path / "rec")
    del m["contract"]
    (tmp_path / "rec" / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    doc = json.loads((tmp_path / "rec" / "proofs.json").read_text(encoding="utf-8"))
    del doc["contract"]
    (tmp_path / "rec" / "proofs.json").write_text(json.dumps(doc), encoding="utf-8")
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr"))
    assert ran == ["check", "prove"]
    check, _live, prove = g.stages
    assert "records no result for contract scope of preset 'pr'" in check.note
    assert "records no contract proofs" in prove.note


def test_a_doctored_spec_hash_reruns_check_and_liveness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _write_records(tmp_path / "rec", spec="sha256:" + "0" * 64)
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr"))
    assert ran == ["check", "liveness"]  # prove's sources hash still matches
    check, live, prove = g.stages
    assert check.recorded is None and check.summary == "check ran"
    assert "differs from the recorded 000000000000" in check.note
    assert prove.recorded is not None
    assert g.to_json()["stages"][0]["run"] == "ran"
    assert "check: run: spec hash" in markdown(g)


def test_a_doctored_sources_hash_reruns_prove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _write_records(tmp_path / "rec", sources="sha256:" + "f" * 64)
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr"))
    assert ran == ["prove"]
    assert "sources hash" in g.stages[2].note


def test_recheck_reruns_every_model_stage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _write_records(tmp_path / "rec")
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr", recheck=True))
    assert ran == ["check", "liveness", "prove"]
    assert all(s.recorded is None and s.note == "run: --recheck" for s in g.stages)


def test_a_variant_is_never_served_from_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _write_records(tmp_path / "rec")
    _use(monkeypatch, tmp_path / "rec")
    g = run_gate(GateOptions(preset="pr", variant="no-epoch-fencing"))
    assert ran == ["check", "liveness", "prove"]
    assert all("different model" in s.note for s in g.stages)


def test_an_install_without_records_reruns_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    _use(monkeypatch, tmp_path / "empty")
    g = run_gate(GateOptions(preset="pr"))
    assert ran == ["check", "liveness", "prove"]
    assert "no recorded manifest shipped with this install" in g.stages[0].note
    assert "no recorded proof summary shipped with this install" in g.stages[2].note


def test_a_recorded_failure_is_rerun_for_its_evidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ran: list[str]
) -> None:
    m = _write_records(tmp_path / "rec")
    m["contract"]["pr"]["verdict"] = "violation"
    (tmp_path / "rec" / "manifest.json").write_text(json.dumps(m), encoding="utf-8")
    _use(monkeypatch, tmp_path / "rec")
    run_gate(GateOptions(preset="pr"))
    assert ran == ["check"]


def test_the_shipped_records_are_the_checkouts_files() -> None:
    """parsync/records/*.json are links to the records in spec/ and docs/ (a wheel copies
    them), and the package-side hashes are the manifest's and the proof report's."""
    for name, target in (
        ("manifest.json", "spec/manifest.json"),
        ("proofs.json", "docs/proofs.json"),
        ("properties.json", "spec/properties.json"),
    ):
        assert (records.RECORDS / name).resolve() == (ROOT / target).resolve()
    assert records.current_spec_hash() == spec_hash()
    assert records.current_sources_hash() == source_hash()
    toml = (ROOT / "pyproject.toml").read_text()
    assert '"records/*.json"' in toml


def test_the_proof_summary_agrees_with_the_report() -> None:
    """docs/proofs.json is written with docs/proofs.md; a stale one is caught here."""
    doc = json.loads((ROOT / "docs" / "proofs.json").read_text())
    md = (ROOT / "docs" / "proofs.md").read_text()
    m = re.search(r"- Verdict: \*\*(\w+)\*\*: (\d+) of (\d+) obligations proved", md)
    h = re.search(r"Sources hash: `([^`]+)`", md)
    assert m and h
    assert doc["format"] == records.PROOF_SUMMARY_FORMAT
    assert (doc["verdict"], doc["proved"], doc["obligations"]) == (
        m.group(1),
        int(m.group(2)),
        int(m.group(3)),
    )
    assert doc["sources_hash"] == h.group(1)


def test_an_installed_copy_finds_its_records(tmp_path: Path) -> None:
    """A copy of the package alone (links resolved, as a wheel installs it; no spec/, docs/
    or top-level model/) computes the same hashes, serves the proof record and reports."""
    import shutil
    import subprocess
    import sys

    shutil.copytree(
        ROOT / "parsync",
        tmp_path / "parsync",
        symlinks=False,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    code = (
        "import parsync, parsync.records as r, parsync.gate as g;"
        f"assert parsync.__file__.startswith({str(tmp_path)!r}), parsync.__file__;"
        "print(r.current_spec_hash()); print(r.current_sources_hash());"
        "print(r.lookup_proofs().entry is not None); print(g.versions()['spec_hash'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == [spec_hash(), source_hash(), str(True), spec_hash()]
