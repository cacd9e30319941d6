"""The citable specification (spec/) agrees with the executable model (model/).

* spec/properties.json lists exactly the properties of model/properties.py (IDs,
  names, kinds, expectations, predicates) and the variants of model/variants.py
  that break each, plus PS-L1..L3, checked by parsync/engines/liveness.py and broken by the
  variants of parsync/engines/liveness_variants.py; spec/properties.md carries every ID,
  formula and variant;
* spec/manifest.json was generated from the current model sources (spec hash),
  and its state counts are reproduced exactly (small here; pr in a slow test).
"""

from __future__ import annotations

import importlib
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from parsync import manifest as mf
from parsync.engines.liveness import LIVENESS_IDS, LIVENESS_NAMES, check_liveness
from parsync.engines.liveness_variants import LIVENESS_VARIANTS
from parsync.model.presets import PRESETS
from parsync.model.properties import PROPERTIES, WITNESSES
from parsync.model.state import Snapshot, State, Worker
from parsync.model.variants import ALL_VARIANTS, GROUND_TRUTH_VARIANTS, VARIANTS

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"
# Source documents, when the checkout sits beside them (they are not part of the repo).
ADR = ROOT.parent / "shared" / "context" / "ADR-0031-parsync.txt"
DESIGN = ROOT.parent / "shared" / "DESIGN.md"


@pytest.fixture(scope="module")
def catalogue() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((SPEC / "properties.json").read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="module")
def prose() -> str:
    return (SPEC / "properties.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return mf.load(SPEC / "manifest.json")


def _by_id(catalogue: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in catalogue["properties"]}


# --- properties.json <-> model/properties.py ---------------------------------------------


def test_catalogue_is_versioned(catalogue: dict[str, Any]) -> None:
    assert catalogue["version"] == 1
    ids = [p["id"] for p in catalogue["properties"]]
    assert len(ids) == len(set(ids)), "duplicate property IDs in spec/properties.json"


def test_checked_properties_match_the_model_exactly(catalogue: dict[str, Any]) -> None:
    checked = [
        p for p in catalogue["properties"] if p["status"] == "checked" and p["kind"] != "liveness"
    ]
    assert [(p["id"], p["name"], p["kind"], p["expectation"]) for p in checked] == [
        (p.id, p.name, p.kind, p.expectation) for p in PROPERTIES
    ]


def test_liveness_properties_are_checked_by_the_liveness_engine(
    catalogue: dict[str, Any],
) -> None:
    live = [p for p in catalogue["properties"] if p["kind"] == "liveness"]
    assert [(p["id"], p["name"]) for p in live] == list(LIVENESS_NAMES.items())
    assert [p["id"] for p in live] == list(LIVENESS_IDS)
    for p in live:
        assert p["status"] == "checked"
        assert p["predicate"] is None  # no single predicate: fair SCCs of the state graph
        modname, _, fn = p["checked_by"].rpartition(".")
        assert getattr(importlib.import_module(modname), fn) is check_liveness
        assert p["broken_by"], f"{p['id']} has no known-bad variant: it could pass vacuously"
    assert all(p["status"] == "checked" for p in catalogue["properties"])


def test_predicates_name_the_models_functions(catalogue: dict[str, Any]) -> None:
    by_id = _by_id(catalogue)
    for p in PROPERTIES:
        modname, _, fn = by_id[p.id]["predicate"].rpartition(".")
        target = getattr(importlib.import_module(modname), fn)
        assert target is (p.state_pred or p.action_pred), f"{p.id}: predicate mismatch"


def test_every_variant_is_listed_as_breaking_its_property(catalogue: dict[str, Any]) -> None:
    by_id = _by_id(catalogue)
    for v in (*VARIANTS, *GROUND_TRUTH_VARIANTS):
        assert v.breaks in by_id, f"variant {v.name} breaks unknown property {v.breaks}"
        assert v.name in by_id[v.breaks]["broken_by"], (
            f"spec/properties.json: {v.breaks} must list variant {v.name} in broken_by"
        )
    for p in catalogue["properties"]:
        expected = [v.name for v in (*VARIANTS, *GROUND_TRUTH_VARIANTS) if v.breaks == p["id"]]
        expected += [v.name for v in LIVENESS_VARIANTS if v.breaks == p["id"]]
        assert p["broken_by"] == expected, (
            f"{p['id']}: broken_by is not derived from VARIANTS and LIVENESS_VARIANTS"
        )
    for p in PROPERTIES:
        assert by_id[p.id]["broken_by"], f"{p.id} has no known-bad variant: it could pass vacuously"


def test_witnesses_match_the_model(catalogue: dict[str, Any]) -> None:
    assert [(w["id"], w["name"]) for w in catalogue["witnesses"]] == [
        (w.id, w.name) for w in WITNESSES
    ]
    assert all(w["purpose"] for w in catalogue["witnesses"])


def test_ghost_variables_exist_in_the_state(catalogue: dict[str, Any]) -> None:
    fields = {
        "read_at": Snapshot._fields,
        "attempts": Worker._fields,
        "sent": Worker._fields,
        "placed": State._fields,
        "reread": Worker._fields,
    }
    assert set(catalogue["ghost_variables"]) == set(fields)
    for name, where in fields.items():
        assert name in where
    for p in catalogue["properties"]:
        assert set(p["ghost_variables"]) <= set(fields), p["id"]


def test_every_property_is_sourced(catalogue: dict[str, Any]) -> None:
    for p in catalogue["properties"]:
        src = p["formalises"]
        assert src["source"] in ("ADR-0031", "DESIGN.md"), p["id"]
        assert src["quote"].strip(), p["id"]
        assert p["statement"].strip() and p["formula"].strip(), p["id"]


def _quotes(catalogue: dict[str, Any], source: str) -> list[tuple[str, str]]:
    out = []
    for p in catalogue["properties"]:
        for q in (p["formalises"], *p["see_also"]):
            if q["source"] == source:
                out.append((p["id"], q["quote"]))
    return out


@pytest.mark.skipif(not ADR.exists(), reason=f"ADR-0031 text not found at {ADR}")
def test_adr_quotes_are_verbatim(catalogue: dict[str, Any]) -> None:
    text = ADR.read_text(encoding="utf-8")
    for pid, quote in _quotes(catalogue, "ADR-0031"):
        assert quote in text, f"{pid}: not a verbatim ADR-0031 sentence: {quote!r}"


@pytest.mark.skipif(not DESIGN.exists(), reason=f"DESIGN.md not found at {DESIGN}")
def test_design_quotes_are_verbatim(catalogue: dict[str, Any]) -> None:
    text = DESIGN.read_text(encoding="utf-8")
    for pid, quote in _quotes(catalogue, "DESIGN.md"):
        assert quote in text, f"{pid}: not a verbatim DESIGN.md statement: {quote!r}"


# --- properties.md -------------------------------------------------------------------------


def test_prose_has_a_heading_and_the_formula_for_every_id(
    catalogue: dict[str, Any], prose: str
) -> None:
    headings = re.findall(r"^## (PS-\S+) (\S+)$", prose, flags=re.M)
    assert headings == [(p["id"], p["name"]) for p in catalogue["properties"]]
    for p in PROPERTIES:
        assert f"## {p.id} {p.name}" in prose
    flat = " ".join(re.sub(r"^> ?", "", prose, flags=re.M).split())
    for p in catalogue["properties"]:
        assert textwrap.indent(p["formula"], "    ") in prose, (
            f"{p['id']}: the formula in properties.md differs from properties.json"
        )
        for q in (p["formalises"], *p["see_also"]):
            assert " ".join(q["quote"].split()) in flat, (
                f"{p['id']}: properties.md lacks the quoted sentence {q['quote']!r}"
            )


def test_prose_lists_every_variant_and_preset(prose: str) -> None:
    for v in ALL_VARIANTS:
        assert f"| `{v.name}` | {v.breaks} " in prose, f"known-bad table lacks {v.name}"
    for name in PRESETS:
        assert f"| `{name}` |" in prose, f"Scopes table lacks preset {name}"
    for lv in LIVENESS_VARIANTS:
        row = f"| `{lv.name}` | {lv.breaks} {LIVENESS_NAMES[lv.breaks]} | {lv.summary} |"
        assert row in prose, f"known-bad liveness table lacks {lv.name}"


def test_prose_names_each_liveness_propertys_variants(
    catalogue: dict[str, Any], prose: str
) -> None:
    for p in catalogue["properties"]:
        if p["kind"] == "liveness":
            section = prose.split(f"## {p['id']} {p['name']}\n", 1)[1].split("\n## ", 1)[0]
            assert "*Checked by:* `parsync.engines.liveness.check_liveness`" in section, p["id"]
            names = ", ".join(f"`{n}`" for n in p["broken_by"])
            assert f"*Broken by:* {names}." in section, p["id"]


# --- manifest.json -------------------------------------------------------------------------


def test_manifest_spec_hash_is_current(manifest: dict[str, Any]) -> None:
    assert manifest["spec_sources"] == list(mf.SPEC_SOURCES)
    assert not mf.compare_hash(manifest), (
        "spec/manifest.json is stale: it was generated from other model sources "
        f"({manifest['spec_hash']}, now {mf.spec_hash()}). Regenerate it with "
        f"`{mf.REGENERATE}` (and commit it) once the model change is intended."
    )


def test_manifest_records_every_preset(manifest: dict[str, Any]) -> None:
    assert list(manifest["presets"]) == list(PRESETS)
    for name, e in manifest["presets"].items():
        assert e["config"] == PRESETS[name].config.describe(), name
        if "omitted" in e:
            assert e["omitted"].strip(), f"{name}: omitted without a reason"
            assert not set(mf.COMPARED_FIELDS[1:]) & set(e), f"{name}: omitted but has counts"
        else:
            assert set(mf.COMPARED_FIELDS) <= set(e), name
    assert manifest["tools"]["python"]
    assert {"small", "pr"} <= set(mf.recorded(manifest))


def test_manifest_records_the_contract_scopes(manifest: dict[str, Any]) -> None:
    """The contract's counts: each of CONTRACT_PRESETS under its contract scope."""
    assert list(manifest["contract"]) == list(mf.CONTRACT_PRESETS)
    for name, e in manifest["contract"].items():
        assert e["config"] == PRESETS[name].config_for("contract").describe(), name
        assert "omitted" not in e, f"{name} (contract): {e.get('omitted')}"
        assert set(mf.COMPARED_FIELDS) <= set(e), name
    # the contract has every behaviour of the reference: never fewer states on one scope
    for name, e in manifest["contract"].items():
        ref = manifest["presets"][name]
        if PRESETS[name].contract is None and "states" in ref:
            assert e["states"] >= ref["states"], name


def _recompute(manifest: dict[str, Any], name: str, policy: str = "reference") -> None:
    fresh = mf.run_preset(name, max_seconds=None, policy=policy)
    table = "contract" if policy == "contract" else "presets"
    diffs = mf.compare_entry(name, manifest[table].get(name), fresh)
    assert not diffs, (
        "spec/manifest.json does not match the model:\n  "
        + "\n  ".join(diffs)
        + f"\nRegenerate it with `{mf.REGENERATE}` once the change is intended."
    )


def test_small_counts_match_the_manifest(manifest: dict[str, Any]) -> None:
    _recompute(manifest, "small")


@pytest.mark.slow
def test_pr_counts_match_the_manifest(manifest: dict[str, Any]) -> None:
    _recompute(manifest, "pr")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["small", "pr"])
def test_contract_counts_match_the_manifest(manifest: dict[str, Any], name: str) -> None:
    _recompute(manifest, name, "contract")


def test_manifest_compare_reports_differences() -> None:
    entry = {
        "config": "c",
        "verdict": "pass",
        "states": 10,
        "transitions": 20,
        "depth": 3,
        "symmetry_group": 1,
        "seconds": 1.0,
    }
    assert mf.compare_entry("x", entry, {**entry, "seconds": 99.0}) == []
    diffs = mf.compare_entry("x", entry, {**entry, "states": 11, "verdict": "violation"})
    assert diffs == [
        "x.verdict: manifest 'pass', recomputed 'violation'",
        "x.states: manifest 10, recomputed 11",
    ]
    assert mf.compare_entry("x", None, entry)[0].startswith("x: not in the manifest")
    assert mf.compare_hash({"spec_hash": "sha256:0"})[0].startswith("spec_hash: manifest")


def test_manifest_merge_keeps_only_what_is_still_true() -> None:
    cfg = {n: p.config.describe() for n, p in PRESETS.items()}
    old = {
        "spec_hash": "sha256:old",
        "presets": {
            "small": {"config": cfg["small"], "verdict": "pass", "states": 1},
            "pr": {"config": cfg["pr"], "verdict": "pass", "states": 2},
            "nightly": {"config": cfg["nightly"], "omitted": "did not finish"},
        },
    }
    new = {"spec_hash": "sha256:old", "presets": {"small": {"config": cfg["small"], "states": 3}}}
    same = mf.merge(old, new)
    assert list(same["presets"]) == ["small", "pr", "nightly"]
    assert same["presets"]["small"]["states"] == 3
    changed = mf.merge(old, {**new, "spec_hash": "sha256:new"})
    assert list(changed["presets"]) == ["small", "nightly"], "stale counts must be dropped"
    old["presets"]["nightly"]["config"] = "another scope"
    assert "nightly" not in mf.merge(old, {**new, "spec_hash": "sha256:new"})["presets"]
