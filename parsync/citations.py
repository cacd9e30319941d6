"""``docs/adr-citations.md``: each ADR-0031 claim beside the check that tests it and its verdict.

Generated, never edited by hand, from the records the engines leave behind:

* ``spec/properties.json``: the catalogue; each property quotes the ADR (or the
  design brief) sentences it formalises and names the variants that break it;
* ``spec/manifest.json``: the exhaustive checks per preset (verdict, states),
  and the liveness checks;
* ``docs/proofs.md``: the Z3 proof outcome per property (its summary table), and on
  the contract policy (the table of its section "The contract policy": a property
  proved there holds for every scheduling policy the contract allows);
* ``docs/simulation.json``: the simulated conflict-rate table and findings
  (``parsync simulate --json docs/simulation.json``).

Nothing is recomputed here, so the file is cheap to regenerate and
``tests/test_citations.py`` can fail whenever it is stale against those
records. Each row ends in a sentence an ADR author can paste, naming the
property ID, the verdict and the record it comes from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "adr-citations.md"
REGENERATE = "parsync cite --write docs/adr-citations.md"


class CitationError(Exception):
    """A record the citations are built from is missing or unreadable (one line)."""


@dataclass
class Records:
    catalogue: dict[str, Any]
    manifest: dict[str, Any]
    proofs: dict[str, tuple[str, str]]  # property ID -> (outcome, "k/n")
    proofs_hash: str
    simulation: dict[str, Any] | None
    missing: list[str] = field(default_factory=list)
    # the same on the contract policy's encoding (every policy the contract allows)
    contract_proofs: dict[str, tuple[str, str]] = field(default_factory=dict)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise CitationError(f"{path}: cannot read: {e}") from None


CONTRACT_SECTION = "## The contract policy"
PROVED = "proved for every size"


def _proof_summary(
    path: Path,
) -> tuple[dict[str, tuple[str, str]], str, dict[str, tuple[str, str]]]:
    """The proof report's summary tables: ID -> (outcome, proved/total) for the
    reference policy, its sources hash, and the same for the contract policy (the
    table of the section "The contract policy"; empty when the report has none)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}, "", {}
    # the reference's summary has a name column, the contract's table none
    rows = _rows(text, r"^\| (PS-\d+|TypeOK) \| \w+ \| ([^|]+) \| (\d+/\d+) \|")
    h = re.search(r"Sources hash: `([^`]+)`", text)
    contract: dict[str, tuple[str, str]] = {}
    at = text.find("\n" + CONTRACT_SECTION + "\n")
    if at >= 0:
        body = text[at + 1 :]
        end = body.find("\n## ", 1)
        body = body if end < 0 else body[:end]
        contract = _rows(body, r"^\| (PS-\d+|TypeOK) \| ([^|]+) \| (\d+/\d+) \|", first=True)
    return rows, h.group(1) if h else "", contract


def _rows(text: str, pattern: str, *, first: bool = False) -> dict[str, tuple[str, str]]:
    """ID -> (outcome, proved/total) from a table's rows (``first``: the first row of
    an ID wins, else the last)."""
    rows: dict[str, tuple[str, str]] = {}
    for m in re.finditer(pattern, text, re.M):
        if not (first and m.group(1) in rows):
            rows[m.group(1)] = (m.group(2).strip(), m.group(3))
    return rows


def load(root: Path = ROOT) -> Records:
    cat = _json(root / "spec" / "properties.json")
    if cat is None:
        raise CitationError(f"{root / 'spec' / 'properties.json'}: missing")
    manifest = _json(root / "spec" / "manifest.json") or {}
    proofs, phash, contract = _proof_summary(root / "docs" / "proofs.md")
    sim = _json(root / "docs" / "simulation.json")
    missing = [
        name
        for name, ok in (
            ("spec/manifest.json", bool(manifest)),
            ("docs/proofs.md", bool(proofs)),
            ("docs/simulation.json", sim is not None),
        )
        if not ok
    ]
    return Records(cat, manifest, proofs, phash, sim, missing, contract)


# --- one property's evidence ----------------------------------------------------------


def _checked(r: Records) -> str:
    """Exhaustive-check evidence shared by every safety property: preset -> states."""
    parts = []
    for name, e in r.manifest.get("presets", {}).items():
        if "states" in e:
            parts.append(f"{name} {e['verdict']} ({e['states']:,} states)")
    return ", ".join(parts) or "no exhaustive check recorded"


def _all_pass(r: Records) -> bool:
    entries = [e for e in r.manifest.get("presets", {}).values() if "verdict" in e]
    return bool(entries) and all(e["verdict"] == "pass" for e in entries)


def evidence(r: Records, p: dict[str, Any]) -> tuple[str, str]:
    """(verdict word, evidence text) for one catalogue entry."""
    pid = p["id"]
    broken = ", ".join(f"`{v}`" for v in p.get("broken_by", [])) or "none recorded"
    if p["kind"] == "liveness":
        live = r.manifest.get("liveness", {})
        got = [
            (scope, e)
            for scope, e in live.items()
            if isinstance(e, dict) and "verdict" in e and pid in e.get("properties", [pid])
        ]
        if not got:
            return "not recorded", f"no liveness run recorded; broken by {broken}"
        texts = []
        ok = True
        # entries recorded before the fairness was recorded were made under weak fairness
        fairness = sorted({e.get("fairness", "weak") for _scope, e in got})
        for scope, e in got:
            v = e["verdict"] if pid not in e.get("violated", []) else "violation"
            ok = ok and v == "pass"
            texts.append(
                f"{scope} ({e.get('workload', 'finite')} workload): {v}, {e['states']:,} states"
            )
        verdict = "holds" if ok else "violated"
        return verdict, (
            f"{' and '.join(fairness)} fairness, explicit state graph: "
            + "; ".join(texts)
            + f"; broken by {broken}"
        )
    proof = r.proofs.get(pid)
    proof_text = f"Z3: {proof[0]} ({proof[1]} obligations)" if proof else "Z3: no proof recorded"
    proved = proof is not None and proof[0].startswith(PROVED)
    cproof = r.contract_proofs.get(pid)
    if cproof is not None:
        proof_text += (
            f"; Z3 on the contract, for every policy the contract allows: "
            f"{cproof[0]} ({cproof[1]} obligations)"
        )
    checked = _all_pass(r)
    if proved and checked and cproof is not None and cproof[0].startswith(PROVED):
        verdict = "holds for every size and every policy"
    elif proved and checked:
        verdict = "holds for every size"
    else:
        verdict = "holds in the checked scopes" if checked else "see evidence"
    return verdict, f"BFS: {_checked(r)}; {proof_text}; broken by {broken}"


# --- rendering -------------------------------------------------------------------------


def _quote_key(q: dict[str, Any]) -> tuple[str, str]:
    return (q.get("section", ""), q["quote"])


def render(r: Records) -> str:
    props = r.catalogue["properties"]
    by_quote: dict[tuple[str, str], list[dict[str, Any]]] = {}
    brief: list[dict[str, Any]] = []
    for p in props:
        quotes = [p["formalises"], *p.get("see_also", [])]
        adr = [q for q in quotes if q.get("source") == "ADR-0031"]
        if not adr:
            brief.append(p)
        for q in adr:
            by_quote.setdefault(_quote_key(q), []).append(p)
    spec_hash = r.manifest.get("spec_hash", "not recorded")
    out = [
        "# ADR-0031 citations: each claim, the check that tests it, its verdict",
        "",
        f"Generated by `{REGENERATE}` from `spec/properties.json`, `spec/manifest.json`, "
        "`docs/proofs.md` and `docs/simulation.json`; do not edit by hand. "
        "`tests/test_citations.py` fails when this file is stale against those records.",
        "",
        f"- model spec hash: `{spec_hash}`",
        f"- proof report sources hash: `{r.proofs_hash or 'not recorded'}`",
    ]
    if r.simulation is not None:
        s = r.simulation
        out.append(
            f"- simulation: plan `{s.get('plan')}`, seed {s.get('seed')}, "
            f"{s.get('steps', 0):,} model steps, spec hash `{s.get('spec_hash', '?')}`"
        )
    if r.missing:
        out.append(
            f"- **not recorded** (claims relying on them show no verdict): {', '.join(r.missing)}"
        )
    out += [
        "",
        "Verdicts: *holds for every size* = exhaustively checked in every preset and proved "
        "inductively by Z3 for unbounded workers, partitions, buckets and needs; *holds for "
        "every size and every policy* = that, and also proved on the contract (every "
        "behaviour ADR-0031 allows, so for every scheduling policy, docs/contract.md); *holds* "
        "(liveness) = no fair lasso in the recorded scopes; *agrees / partly / disagrees / "
        "not reached* = the simulation's reading of a quantitative claim (docs/simulation.md).",
        "",
        "## Sentences of ADR-0031 that state a property",
        "",
    ]
    for (section, quote), ps in sorted(by_quote.items(), key=lambda kv: _first_id(kv[1])):
        out.append(f"> {quote}")
        out.append(">")
        out.append(f"> -- ADR-0031, *{section}*")
        out.append("")
        out.append("| property | verdict | evidence |")
        out.append("|---|---|---|")
        paste = []
        for p in ps:
            verdict, ev = evidence(r, p)
            out.append(f"| {p['id']} {p['name']} | {verdict} | {ev} |")
            paste.append(f"{p['id']} {p['name']}: {verdict}")
        out.append("")
        out.append(
            f"Cite as: *checked by parsync-spec ({'; '.join(paste)}; spec `{spec_hash[:19]}`)*."
        )
        out.append("")
    if brief:
        out += [
            "## Properties from the design brief (no ADR sentence of their own)",
            "",
            "| property | states | verdict | evidence |",
            "|---|---|---|---|",
        ]
        for p in brief:
            verdict, ev = evidence(r, p)
            out.append(f"| {p['id']} {p['name']} | {p['formalises']['quote']} | {verdict} | {ev} |")
        out.append("")
    out += _numbers(r)
    return "\n".join(out).rstrip() + "\n"


def _first_id(ps: list[dict[str, Any]]) -> tuple[int, int]:
    pid = ps[0]["id"]
    live = pid.startswith("PS-L")
    return (1 if live else 0, int(pid.rsplit("-", 1)[1].lstrip("L")))


def _numbers(r: Records) -> list[str]:
    out = [
        "## Numbers and qualitative claims (simulation)",
        "",
        "ADR-0031, *Trigger 1*: \"ParSync's expected impact (per [1, §3]'s analytical model and "
        'their measured curves)", the conflict-rate table; *Partition rotation*: latency-first '
        '"Lowest conflict rate", quality-first "Highest scheduling quality". The model is a '
        "protocol model, not a performance model: docs/simulation.md says what its numbers can "
        "and cannot mean.",
        "",
    ]
    s = r.simulation
    if s is None:
        return [*out, "Not recorded: run `parsync simulate --json docs/simulation.json`.", ""]
    if not s.get("complete", False):
        out += ["**The recorded simulation is partial** (it stopped on its budget).", ""]
    out += ["| ADR-0031 claim | simulated verdict | evidence |", "|---|---|---|"]
    for f in s.get("findings", []):
        out.append(f"| {f['claim']} | {f['verdict']} | {f['evidence']} |")
    out.append("")
    return out


def write(path: Path = DEFAULT_OUT, root: Path = ROOT) -> str:
    text = render(load(root))
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CitationError(f"cannot write {path}: {e.strerror or e}") from None
    return text
