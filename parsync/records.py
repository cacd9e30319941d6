"""The recorded results of the model, as the installed package finds them.

In a scheduler's repository the model does not change between pull requests,
so ``parsync gate`` need not re-check it each time: the exhaustive checks and
liveness runs are recorded in ``spec/manifest.json`` (keyed by the *spec hash*,
:func:`parsync.manifest.spec_hash`) and the proofs in ``docs/proofs.md`` with a
machine-readable summary ``docs/proofs.json`` (keyed by the *sources hash*,
:func:`parsync.proofs.report.source_hash`).

``spec/`` and ``docs/`` exist only in a checkout, so the records ship as
package data: ``parsync/records/manifest.json``, ``proofs.json`` and
``properties.json`` are symbolic links to ``spec/manifest.json``,
``docs/proofs.json`` and ``spec/properties.json`` (a wheel copies the files,
as it does for ``parsync/model``). The hashes are recomputed here from the
package's own files under the same names (``model/config.py`` is read as
``parsync/model/config.py``, ``spec/properties.json`` as
``parsync/records/properties.json``), so in a checkout they equal the
manifest's and the report's, and in an installed copy they are the hashes of
the code actually installed. A record is used only when its hash equals the
current one; :class:`Lookup` says which record was used or why none was.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parsync.hashing import sources_hash

PKG = Path(__file__).resolve().parent
RECORDS = PKG / "records"
MANIFEST = RECORDS / "manifest.json"
PROOFS = RECORDS / "proofs.json"
PROPERTIES = RECORDS / "properties.json"
PROOF_SUMMARY_FORMAT = "parsync-proof-summary/1"


def _resolve(name: str, pkg: Path) -> Path:
    """Where the installed package keeps the source a hash names (repository path)."""
    if name.startswith("parsync/"):
        return pkg / name.removeprefix("parsync/")
    if name == "spec/properties.json":
        return pkg / "records" / "properties.json"  # always the shipped copy, not RECORDS
    return pkg / name  # model/... -> parsync/model/... (the package's link to model/)


def package_hash(names: tuple[str, ...], pkg: Path | None = None) -> str | None:
    """sha256 over ``names`` as :func:`parsync.manifest.spec_hash` computes it, reading
    each from the package; None when one is missing (an install without the records)."""
    try:
        return sources_hash(names, lambda name: _resolve(name, pkg or PKG))
    except OSError:
        return None


def current_spec_hash() -> str | None:
    """The spec hash of the installed model (equal to ``manifest.spec_hash()`` in a checkout)."""
    from parsync.manifest import SPEC_SOURCES

    return package_hash(SPEC_SOURCES)


def current_sources_hash() -> str | None:
    """The proofs' sources hash of the installed package (``report.source_hash()``)."""
    from parsync.proofs.report import SOURCES

    return package_hash(SOURCES)


def _load(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass(frozen=True)
class Lookup:
    """A recorded result (``entry``) for one gate stage, or the reason there is none."""

    entry: dict[str, Any] | None
    hash: str  # the hash the record is keyed by (the current one when it matched)
    source: str  # where the record was read from
    reason: str = ""  # why no record is used (empty when ``entry`` is set)


def _miss(reason: str, source: str, h: str = "") -> Lookup:
    return Lookup(None, h, source, reason)


def lookup_check(preset: str, config: str, policy: str = "reference") -> Lookup:
    """The manifest's entry for ``preset`` under ``policy`` (the ``presets`` table for
    the reference, ``contract`` for the contract) if its spec hash and config are current."""
    return _manifest_lookup("contract" if policy == "contract" else "presets", preset, config)


def lookup_liveness(scope: str, config: str) -> Lookup:
    """The manifest's liveness entry for ``scope`` if its spec hash and config are current."""
    return _manifest_lookup("liveness", scope, config)


def _manifest_lookup(table: str, name: str, config: str) -> Lookup:
    src = "parsync/records/manifest.json"
    doc = _load(RECORDS / "manifest.json")
    if doc is None:
        return _miss(f"no recorded manifest shipped with this install ({src})", src)
    recorded = str(doc.get("spec_hash", ""))
    current = current_spec_hash()
    if current is None or recorded != current:
        return _miss(
            f"spec hash {_short(current)} differs from the recorded {_short(recorded)}",
            src,
            recorded,
        )
    e = doc.get(table, {}).get(name)
    what = {"liveness": "liveness scope", "contract": "contract scope of preset"}.get(
        table, "preset"
    )
    if not isinstance(e, dict) or "verdict" not in e:
        return _miss(f"the manifest records no result for {what} {name!r}", src, recorded)
    if e.get("config") != config:
        return _miss(f"the recorded config of {what} {name!r} differs", src, recorded)
    if e["verdict"] != "pass":
        return _miss(f"the recorded verdict is {e['verdict']} (re-run for the evidence)", src)
    return Lookup(e, recorded, src)


def lookup_proofs(policy: str = "reference") -> Lookup:
    """The proof summary if its sources hash is current and every obligation was proved
    (``policy="contract"``: the summary's ``contract`` section, the same sources hash)."""
    src = "parsync/records/proofs.json"
    doc = _load(RECORDS / "proofs.json")
    if doc is None or doc.get("format") != PROOF_SUMMARY_FORMAT:
        return _miss(f"no recorded proof summary shipped with this install ({src})", src)
    recorded = str(doc.get("sources_hash", ""))
    current = current_sources_hash()
    if current is None or recorded != current:
        return _miss(
            f"sources hash {_short(current)} differs from the recorded {_short(recorded)}",
            src,
            recorded,
        )
    if policy == "contract":
        doc = doc.get("contract")
        if not isinstance(doc, dict):
            return _miss(f"the proof summary records no contract proofs ({src})", src, recorded)
    if doc.get("verdict") != "proved":
        return _miss(f"the recorded verdict is {doc.get('verdict')} (re-run for the evidence)", src)
    return Lookup(doc, recorded, src)


def _short(h: str | None) -> str:
    return "(unavailable)" if not h else h.removeprefix("sha256:")[:12]


def proof_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The machine-readable summary of a proof run (``report.to_json``'s document):
    what the gate needs to report a recorded prove stage, written as docs/proofs.json."""
    props = report.get("properties", [])
    nonvac = report.get("nonvacuous") or []
    obligations = sum(len(p["obligations"]) for p in props) + len(nonvac)
    proved = sum(1 for p in props for o in p["obligations"] if o["outcome"] == "proved")
    proved += sum(1 for o in nonvac if o["outcome"] == "proved")
    return {
        "format": PROOF_SUMMARY_FORMAT,
        "note": "Written with docs/proofs.md by `parsync prove --report docs/proofs.md`; "
        "read by `parsync gate` (as parsync/records/proofs.json) to report a recorded prove "
        "stage when the sources hash is unchanged.",
        "verdict": report["verdict"],
        "sources_hash": report["sources_hash"],
        "versions": report.get("versions", {}),
        "obligations": obligations,
        "proved": proved,
        "properties": {
            p["id"]: {
                "proved": p["proved"],
                "obligations": len(p["obligations"]),
                "proved_obligations": sum(1 for o in p["obligations"] if o["outcome"] == "proved"),
            }
            for p in props
        },
        "tie": None
        if not report.get("tie")
        else {
            k: report["tie"][k]
            for k in ("ok", "sources", "states", "transitions")
            if k in report["tie"]
        }
        | {"scopes": len(report["tie"].get("scopes", []))},
        "nonvacuous": None
        if report.get("nonvacuous") is None
        else {
            "actions": len(nonvac),
            "witnessed": sum(1 for o in nonvac if o["outcome"] == "proved"),
        },
    }


__all__ = [
    "Lookup",
    "MANIFEST",
    "PROOFS",
    "current_sources_hash",
    "current_spec_hash",
    "lookup_check",
    "lookup_liveness",
    "lookup_proofs",
    "package_hash",
    "proof_summary",
]
