"""The proof report the ADR cites (``docs/proofs.md``), and its source hash.

``parsync prove --report docs/proofs.md`` writes, per property ID: the
statement (from ``spec/properties.json``), the proof idea, the strengthening
lemmas with their one-line explanations, and every obligation with its outcome
and solver time; plus the Z3 and Python versions and a sha256 over the sources
the proofs are about (:data:`SOURCES`). ``tests/test_proofs.py`` recomputes the
hash and fails when the committed report is stale, so a citation can never
silently point at an outdated proof. Timings are information only and never
compared.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.hashing import sources_hash
from parsync.model.properties import get_property
from parsync.proofs.proofs import (
    BY_CONSTRUCTION,
    CLASSIFY_RLIMIT,
    CONTRACT_LEMMAS,
    CTI,
    GOAL_BY_ID,
    INDUCTIVE,
    LEMMAS,
    NEEDS_LEMMAS,
    NONVACUOUS,
    NOT_CLASSIFIED,
    NOT_PROVED,
    PROVED,
    RLIMIT_PER_S,
    TYPE_OK,
    USED_TRACKS,
    USED_TRACKS_TEXT,
    Obligation,
    PropertyResult,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_REPORT = ROOT / "docs" / "proofs.md"
REGENERATE = "parsync prove --report docs/proofs.md"

#: The sources the proofs are about, hashed in this order (paths from the repository root).
SOURCES: tuple[str, ...] = (
    "model/config.py",
    "model/state.py",
    "model/actions.py",
    "model/protocol.py",
    "model/properties.py",
    "model/variants.py",
    "model/presets.py",
    "parsync/proofs/logic.py",
    "parsync/proofs/encoding.py",
    "parsync/proofs/concrete.py",
    "parsync/proofs/witness.py",
    "parsync/proofs/proofs.py",
    "parsync/proofs/tie.py",
    "spec/properties.json",
)

HASH_LINE = "Sources hash"


def source_hash(root: Path = ROOT) -> str:
    """sha256 over SOURCES: per file its path, NUL, its text (LF endings), NUL."""
    return sources_hash(SOURCES, lambda name: root / name)


def recorded_hash(path: Path) -> str | None:
    """The hash a report file records (None if it records none)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(f"- {HASH_LINE}:"):
            return line.split("`")[1]
    return None


def versions() -> dict[str, str]:
    return {"z3": z3.get_version_string(), "python": platform.python_version()}


def _statements() -> dict[str, dict[str, Any]]:
    try:
        doc = json.loads((ROOT / "spec" / "properties.json").read_text(encoding="utf-8"))
        return {p["id"]: p for p in doc.get("properties", [])}
    except (OSError, ValueError, KeyError):
        return {}


def verdict(results: list[PropertyResult]) -> str:
    return "proved" if all(r.proved for r in results) else "FAILED"


def status_line(r: PropertyResult) -> str:
    if r.proved:
        return "proved for every size (unbounded)"
    kinds = sorted({o.outcome for o in r.failures})
    return f"NOT proved: {len(r.failures)} obligation(s) failed ({', '.join(kinds)})"


#: The class of an obligation in the obligation tables (the Method section's legend).
CLASS_TAG = {
    BY_CONSTRUCTION: "construction",
    INDUCTIVE: "inductive",
    NEEDS_LEMMAS: "lemmas",
    NOT_CLASSIFIED: "not classified",
    NOT_PROVED: "",
}


def class_cell(r: PropertyResult) -> str:
    """The Summary's class column: counts per class, and whether the property holds by
    construction (every step obligation does), worded from the obligations."""
    if not r.classified:
        return "-"
    c = r.class_counts()
    parts = [f"{c[BY_CONSTRUCTION]} by construction", f"{c[INDUCTIVE]} inductive"]
    parts.append(
        f"{c[NEEDS_LEMMAS]} need lemmas" + (f" ({', '.join(r.lemmas)})" if r.lemmas else "")
    )
    if c[NOT_CLASSIFIED]:
        parts.append(f"**{c[NOT_CLASSIFIED]} not classified**")
    if c[NOT_PROVED]:
        parts.append(f"{c[NOT_PROVED]} not proved")
    out = ", ".join(parts)
    if r.by_construction:
        steps = r.step_obligations
        bases = sorted({o.action.split("[")[0] for o in steps})
        what = (
            f"restates the {bases[0]} step"
            if len(bases) == 1
            else f"each of its {len(bases)} actions establishes it alone"
        )
        out += (
            f"; **holds by construction**: {what} (all {len(steps)} step obligations "
            "follow from the action and TypeOK alone)"
        )
    return out


def _cell(o: Obligation) -> str:
    tag = CLASS_TAG.get(o.klass or "", "")
    if o.outcome == PROVED:
        return f"proved {o.seconds:.2f}s" + (f", {tag}" if tag else "")
    if o.outcome == CTI:
        return f"**CTI** {o.seconds:.2f}s"
    return f"**unknown** {o.seconds:.2f}s"


def _matrix(obs: list[Obligation]) -> list[str]:
    """Obligations as a table: one row per action, one column per invariant."""
    cols: list[str] = []
    rows: list[str] = []
    for o in obs:
        if o.invariant not in cols:
            cols.append(o.invariant)
        if o.action not in rows:
            rows.append(o.action)
    cell = {(o.action, o.invariant): o for o in obs}
    out = ["| action | " + " | ".join(f"`{c}`" for c in cols) + " |"]
    out.append("|---|" + "---|" * len(cols))
    for a in rows:
        cells = [(_cell(cell[(a, c)]) if (a, c) in cell else "-") for c in cols]
        out.append(f"| {a} | " + " | ".join(cells) + " |")
    return out


def render(
    results: list[PropertyResult],
    nonvacuous: PropertyResult | None,
    *,
    source_digest: str | None = None,
    contract: tuple[list[PropertyResult], PropertyResult | None] | None = None,
    tie: Any = None,
) -> str:
    v = versions()
    st = _statements()
    allr = results + ([nonvacuous] if nonvacuous is not None else [])
    total = sum(len(r.obligations) for r in allr)
    proved = sum(1 for r in allr for o in r.obligations if o.outcome == PROVED)
    secs = sum(r.seconds for r in allr)
    L: list[str] = []
    L += [
        "# ParSync proof report (ADR-0031)",
        "",
        f"Generated by `{REGENERATE}`; do not edit by hand. `tests/test_proofs.py` fails when",
        "this file is stale against the sources listed below.",
        "",
        f"- Verdict: **{verdict(allr)}**: {proved} of {total} obligations proved",
        f"- {HASH_LINE}: `{source_digest or source_hash()}`",
        "- Over: " + ", ".join(f"`{s}`" for s in SOURCES),
        f"- Z3 {v['z3']}, Python {v['python']}",
        f"- Solver time (information only): {secs:.1f} s",
        "- Tie to `model/protocol.py`: "
        + (
            "**none recorded**"
            if tie is None
            else f"**{'agree' if tie.ok else 'DIFFER'}**: {tie.transitions} transitions of "
            f"{len(tie.scopes)} scopes ([certificate](#tie-to-the-checked-model))"
        ),
    ]
    everything = allr + (contract[0] if contract is not None else [])
    if any(r.classified for r in everything):
        cls = sum(o.class_seconds for r in everything for o in r.obligations)
        L.append(
            f"- Classification queries, reference and contract (information only): {cls:.1f} s"
        )
    if contract is not None:
        call = contract[0] + ([contract[1]] if contract[1] is not None else [])
        c_total = sum(len(r.obligations) for r in call)
        c_ok = sum(1 for r in call for o in r.obligations if o.outcome == PROVED)
        c_secs = sum(r.seconds for r in call)
        L.append(
            f"- Contract policy (every scheduling policy, `--policy contract`): "
            f"**{verdict(call)}**: {c_ok} of {c_total} obligations proved "
            f"({c_secs:.1f} s); see [the contract](#the-contract-policy)"
        )
    L += [
        "",
        "## Method",
        "",
        "The ParSync transition relation (`parsync/proofs/encoding.py`, one encoding per action",
        "and per outcome, with the known-bad variants as switches) is read *parametrically*:",
        "workers, buckets, needs and messages are uninterpreted sorts of any size, partitions are",
        "`0 .. P-1` for a symbolic `P`, and capacities, sizes, priorities, arrivals, the",
        "partition map, the retry budget `R`, the cycle and fault bounds and the strategy are",
        "symbolic constants constrained only by the axioms of a valid Config. For each property",
        "the inductive invariant is `TypeOK`, the goal (state properties) and the property's",
        "strengthening lemmas; each conjunct `C` gets the obligations `Init => C` and",
        "`Inv /\\ A => C'` for every action `A`; an action property `AP` gets",
        "`Inv /\\ A => AP` for each action it constrains. *proved* = Z3 found the negation",
        "unsatisfiable; *CTI* = a counterexample to induction (decoded into a model state and",
        "re-checked with the Python predicate); *unknown* = a failure, never a pass.",
        "",
        "How each proved obligation holds (its class, after the time in the tables below; the",
        "Summary counts them per property). A second, cheap query per step obligation drops",
        "the invariant from the hypothesis: `axioms /\\ TypeOK /\\ A => C'` (for the goal",
        "TypeOK itself `axioms /\\ A => TypeOK'`). *construction*: that query holds, so the",
        "action alone establishes the conclusion (an `Init => C` obligation assumes no",
        "invariant and is by construction whenever proved); *inductive*: it does not, but",
        "`axioms /\\ TypeOK /\\ C /\\ A => C'` with the obligation's own conjunct `C` does",
        "(an action property and `UsedTracksClaims` have no such conjunct); *lemmas*: only the",
        "whole invariant proves it (for a goal, its strengthening lemmas; for a lemma, the goal",
        "and the other lemmas). Each query is first searched for a model in the small finite",
        "scopes (decidable: a model there is a model of the parametric query), then posed",
        f"parametrically within a Z3 resource budget of {CLASSIFY_RLIMIT:,} (rlimit, about",
        f"{CLASSIFY_RLIMIT / RLIMIT_PER_S:g} s here; a count of work, so the class does not depend",
        "on the machine's load); *unknown* there is reported",
        "as **not classified**, never as by construction. A property all of whose step",
        "obligations are by construction says so in the Summary.",
        "",
        "Abstractions, each justified by an obligation or a test:",
        "",
        "- `used[b]` is a state variable, not the sum of the claimed sizes (a sum over an",
        "  unbounded sort is not first-order). `UsedTracksClaims` (obligations under PS-1):",
        f"  {USED_TRACKS_TEXT}.",
        "- Older carry-forward snapshots are a count (`nsnap`); the protocol reads only the",
        "  latest one, PS-10 only counts them.",
        "- The gang's bucket set is any non-empty set of eligible buckets passing the worker's",
        "  checks, and `Defer` may happen whenever a head need exists: the gang's cardinality",
        "  is not first-order. This only adds behaviours (sound for safety).",
        "- `parsync/proofs/tie.py` ties the encoding to `model/protocol.py` exhaustively on",
        "  small scopes of every shape before any proof is reported (see the certificate",
        "  below); `tests/test_proofs.py` also ties them on random walks of",
        "  every preset and variant, every concrete step satisfies the relation, the exact finite",
        "  reading has no successor the model lacks, mutated next states are rejected, and the",
        "  symbolic properties agree with the Python predicates.",
        "",
        "Non-vacuity: for `Init` and every action, a reachable transition of the witness scope",
        "(the `pr` scope with every fault on, duplication included) taking that action",
        "satisfies the axioms, every invariant of every property and the action's relation, so",
        "no obligation holds because its hypothesis is contradictory.",
        "",
    ]
    if nonvacuous is not None:
        L += ["| action | outcome | witness |", "|---|---|---|"]
        for o in nonvacuous.obligations:
            out = "satisfied" if o.outcome == PROVED else f"**FAILED**: {o.reason}"
            wit = o.reason if o.outcome == PROVED else ""
            L.append(f"| {o.action} | {out} | {wit.removeprefix('witness: ')} |")
        L.append("")
    if tie is not None:
        from parsync.proofs.tie import certificate_lines

        L += certificate_lines(tie)
    L += [
        "## Summary",
        "",
        "| ID | name | outcome | obligations | lemmas | how the obligations hold |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        g = GOAL_BY_ID[r.pid]
        name = "TypeOK" if r.pid == TYPE_OK else get_property(r.pid).name
        n_ok = sum(1 for o in r.obligations if o.outcome == PROVED)
        lem = ", ".join(g.lemmas) or "-"
        L.append(
            f"| {r.pid} | {name} | {status_line(r)} | {n_ok}/{len(r.obligations)} | {lem} "
            f"| {class_cell(r)} |"
        )
    L.append("")
    for r in results:
        g = GOAL_BY_ID[r.pid]
        if r.pid == TYPE_OK:
            L += [
                f"## {TYPE_OK}",
                "",
                "*Kind:* state invariant (assumed by every property below).",
                "",
            ]
            L += [
                "Every variable stays within its type and bounds: epoch, crash/drop/duplicate",
                "counters within their budgets, cycles within `0 .. max_cycle`, `fresh_at` and",
                "`read_at` not ahead of the cycle, seqnos, claims, message counts, snapshot",
                "counts, retries and attempts non-negative, a ledger entry backed by a claim,",
                "status, mode and reply kinds among their values, and an in-flight proposal",
                "well formed (its priority, a first bucket lowest among those it touches, read",
                "seqnos >= 0, its fresh partition in range).",
                "",
            ]
        else:
            p = get_property(r.pid)
            s = st.get(r.pid, {})
            L += [f"## {r.pid} {p.name}", ""]
            L.append(f"*Kind:* {p.kind} property. *Outcome:* {status_line(r)}.")
            L.append("")
            if s.get("statement"):
                L += [s["statement"], ""]
            if s.get("formula"):
                L += ["```tla", s["formula"].rstrip(), "```", ""]
        L += ["*Proof:* " + g.how, ""]
        lemmas = list(g.lemmas)
        if lemmas or r.pid == "PS-1":
            L += ["| lemma | says |", "|---|---|"]
            for n in lemmas:
                L.append(f"| `{n}` | {LEMMAS[n].text} |")
            if r.pid == "PS-1":
                L.append(f"| `{USED_TRACKS}` (per action) | {USED_TRACKS_TEXT} |")
            L.append("")
        L += _matrix(r.obligations)
        L.append("")
        for o in r.failures:
            L += [f"- {o.message()}", ""]
    if contract is not None:
        L += _contract_section(*contract)
    return "\n".join(L).rstrip() + "\n"


def _contract_section(
    results: list[PropertyResult], nonvacuous: PropertyResult | None
) -> list[str]:
    """The same properties proved on the contract policy's encoding (issue 13)."""
    L = [
        "## The contract policy",
        "",
        "The results above are about the reference policy (`parsync prove --policy",
        "reference`). `parsync prove`, whose default policy is the contract, proves the same",
        'goals on the contract\'s encoding (`Encoding(policy="contract")`):',
        "every behaviour ADR-0031 allows (docs/contract.md), so a property proved here holds",
        "for every scheduling policy. Its extra state: the need in hand (`hd`; pending is a",
        "set, the rest in the fixed order), the ghost `sent`, the parked needs' counters",
        "(`pk`, `pkr`, `pka`, `pks`), the timeout and extra-read counters; its extra steps:",
        "Propose and Defer of any pending need (parking and restoring counters), StartCycle at",
        "any time (a timeout while waiting), Timeout, Refresh, Restart, and Reject of any",
        "reply true of a proposal; the adaptive strategy may use either mode. PS-3 allows a",
        "live worker no snapshot of a partition (it cannot propose there); PS-6 counts `sent`",
        "of the need in hand and of every parked need. The encoding is tied to",
        '`ParSyncModel(policy="contract")` by the same differential check',
        "(`tests/test_contract_z3.py`).",
        "",
        "| ID | outcome | obligations | lemmas | how the obligations hold |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        n_ok = sum(1 for o in r.obligations if o.outcome == PROVED)
        lem = ", ".join(r.lemmas) or "-"
        L.append(
            f"| {r.pid} | {status_line(r)} | {n_ok}/{len(r.obligations)} | {lem} "
            f"| {class_cell(r)} |"
        )
    L.append("")
    if nonvacuous is not None:
        ok = sum(1 for o in nonvacuous.obligations if o.outcome == PROVED)
        L += [
            f"Non-vacuity on the contract: {ok} of {len(nonvacuous.obligations)} actions have a",
            "reachable witness (the witness scope with one timeout and one extra read).",
            "",
        ]
        for o in nonvacuous.failures:
            L += [f"- NonVacuous / {o.action}: **FAILED**: {o.reason}", ""]
    own = sorted({n for r in results for n in r.lemmas if n in CONTRACT_LEMMAS})
    if own:
        L += ["The contract's own lemmas:", "", "| lemma | says |", "|---|---|"]
        L += [f"| `{n}` | {CONTRACT_LEMMAS[n].text} |" for n in own]
        L.append("")
    for r in results:
        L += [f"### {r.pid} on the contract", ""]
        L += _matrix(r.obligations)
        L.append("")
        for o in r.failures:
            L += [f"- {o.message()}", ""]
    return L


def to_json(
    results: list[PropertyResult], nonvacuous: PropertyResult | None, *, tie: Any = None
) -> dict[str, Any]:
    """The machine-readable run; ``tie``: the :class:`~parsync.proofs.tie.TieResult`
    checked before the proofs (its certificate), when there is one."""
    allr = results + ([nonvacuous] if nonvacuous is not None else [])
    return {
        "format": "parsync-proofs/1",
        "verdict": verdict(allr),
        "variant": results[0].variant if results else None,
        "sources_hash": source_hash(),
        "versions": versions(),
        "properties": [
            {
                "id": r.pid,
                "proved": r.proved,
                "lemmas": list(GOAL_BY_ID[r.pid].lemmas) if r.pid in GOAL_BY_ID else [],
                "seconds": round(r.seconds, 3),
                **({"classes": r.class_counts()} if r.classified else {}),
                "obligations": [o.to_json() for o in r.obligations],
            }
            for r in results
        ],
        "nonvacuous": (
            None
            if nonvacuous is None
            else [
                {"action": o.action, "outcome": o.outcome, "detail": o.reason}
                for o in nonvacuous.obligations
            ]
        ),
        "tie": None if tie is None else tie.to_json(),
    }


__all__ = [
    "DEFAULT_REPORT",
    "NONVACUOUS",
    "SOURCES",
    "recorded_hash",
    "render",
    "source_hash",
    "to_json",
]
