"""The state-count manifest: each preset's exhaustive-check result, pinned.

In the style of the TLA+ examples' manifest: per named scope, the expected
verdict and the distinct-state count, as a machine-checked table people can
cite. ``spec/manifest.json`` records, for each preset, its config, verdict,
distinct states, transitions, BFS depth and symmetry-group size (symmetry on,
as ``parsync check`` runs by default) under the reference policy (``presets``)
and, for :data:`CONTRACT_PRESETS`, under the contract (``contract``: the
preset's contract scope, ``Preset.config_for``), plus the tool versions and the *spec
hash*: a sha256 over the model sources that define the protocol
(:data:`SPEC_SOURCES`). Timings are recorded as information only and are never
compared.

A preset whose check does not finish within the time budget is recorded as
omitted, with the reason, never with partial numbers.

``parsync manifest --write`` regenerates the file; ``parsync manifest --check``
(and ``tests/test_spec.py``) recompute it and report every difference.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from parsync.engines.checker import Checker, Progress
from parsync.hashing import sources_hash
from parsync.model.presets import PRESETS, get_preset
from parsync.model.protocol import ParSyncModel

FORMAT = "parsync-manifest/1"

#: The sources that define the protocol and its explored state space, hashed in this
#: order (paths from the repository root: the model, and the symmetry reduction the
#: recorded counts depend on).
SPEC_SOURCES: tuple[str, ...] = (
    "model/config.py",
    "model/state.py",
    "model/actions.py",
    "model/protocol.py",
    "model/properties.py",
    "model/variants.py",
    "model/presets.py",
    "parsync/engines/symmetry.py",
)

#: The fields of a preset's entry that ``--check`` compares (timings are not among them).
COMPARED_FIELDS: tuple[str, ...] = (
    "config",
    "verdict",
    "states",
    "transitions",
    "depth",
    "symmetry_group",
    "coverage",
)

#: Default per-preset time budget: a preset that needs longer is recorded as omitted.
DEFAULT_BUDGET_SECONDS = 600.0

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PATH = ROOT / "spec" / "manifest.json"
REGENERATE = "parsync manifest --write"


class SourcesChanged(RuntimeError):
    """The protocol sources changed on disk during a manifest computation."""


def spec_hash(root: Path = ROOT) -> str:
    """sha256 over the protocol sources: for each file of SPEC_SOURCES, in order,
    its path, a NUL byte, its text with LF line endings, a NUL byte."""
    return sources_hash(SPEC_SOURCES, lambda name: root / name)


def tool_versions() -> dict[str, str]:
    try:
        own = metadata.version("parsync-spec")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        own = "unknown"
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "parsync-spec": own,
    }


#: The presets whose scope is also recorded under the contract policy (``contract``
#: table; ``Preset.config_for("contract")``: a preset too large there names a smaller
#: contract scope). ``nightly`` is not: the contract over its three cycles is far past
#: a night's budget; nor is ``duplicates``: one duplication under the contract passes
#: 1.9 million states at depth 17 with the queue still growing (300 s, measured).
CONTRACT_PRESETS: tuple[str, ...] = (
    "small",
    "pr",
    "capacity",
    "three-partitions",
    "twins",
)


def run_preset(
    name: str,
    *,
    max_seconds: float | None = DEFAULT_BUDGET_SECONDS,
    symmetry: bool = True,
    progress: Callable[[Progress], None] | None = None,
    policy: str = "reference",
) -> dict[str, Any]:
    """Check one preset exhaustively (its scope under ``policy``); return its manifest entry.

    An unfinished search (time budget) gives an ``omitted`` entry with the
    reason, and no counts. Ctrl-C is not a budget: it raises KeyboardInterrupt
    (an interrupted preset must not be recorded as omitted).
    """
    preset = get_preset(name)
    r = Checker(
        ParSyncModel(preset.config_for(policy), policy=policy),
        symmetry=symmetry,
        max_seconds=max_seconds,
        progress=progress,
        progress_every=2_000,
    ).run()
    if r.stop_reason == "interrupted":
        raise KeyboardInterrupt
    if r.stop_reason:
        return omitted_entry(r.config, r.stop_reason, r.seconds, r.states, r.depth)
    return {
        "config": r.config,
        "verdict": r.verdict,
        "states": r.states,
        "transitions": r.transitions,
        "depth": r.depth,
        "symmetry_group": r.symmetry,
        "coverage": dict(r.coverage),  # transitions per action (docs/guide.md quotes it)
        "seconds": round(r.seconds, 1),  # information only, never compared
    }


def omitted_entry(
    config: str, stop_reason: str, seconds: float, states: int, depth: int
) -> dict[str, Any]:
    """The entry of a preset whose exhaustive check did not finish: a reason, no counts."""
    return {
        "config": config,
        "omitted": (
            f"exhaustive check did not finish: {stop_reason} after {seconds:.0f}s, with "
            f"{states:,} distinct states visited at BFS depth {depth} and the queue still "
            "growing; no counts recorded"
        ),
    }


def build(
    presets: Iterable[str],
    *,
    max_seconds: float | None = DEFAULT_BUDGET_SECONDS,
    on_preset: Callable[[str, dict[str, Any]], None] | None = None,
    progress: Callable[[str, Progress], None] | None = None,
) -> dict[str, Any]:
    """A fresh manifest document for ``presets`` (in the order given).

    Raises :class:`SourcesChanged` if the protocol sources change on disk while
    the presets are being checked (the counts would match neither version).
    """
    before = spec_hash()
    entries: dict[str, Any] = {}
    for name in presets:

        def cb(p: Progress, name: str = name) -> None:
            if progress is not None:
                progress(name, p)

        entries[name] = run_preset(name, max_seconds=max_seconds, progress=cb)
        if on_preset is not None:
            on_preset(name, entries[name])
    contract: dict[str, Any] = {}
    for name in presets:
        if name not in CONTRACT_PRESETS:
            continue

        def ccb(p: Progress, name: str = name) -> None:
            if progress is not None:
                progress(f"{name} (contract)", p)

        contract[name] = run_preset(name, max_seconds=max_seconds, progress=ccb, policy="contract")
        if on_preset is not None:
            on_preset(f"{name} (contract)", contract[name])
    liveness = {}
    for name in presets:
        if _liveness_by_default(name):

            def lcb(p: Progress, name: str = name) -> None:
                if progress is not None:
                    progress(f"{name} (liveness)", p)

            liveness[name] = run_liveness(name, max_seconds=max_seconds, progress=lcb)
    if spec_hash() != before:
        raise SourcesChanged(
            "the model sources changed while the presets were being checked; run again"
        )
    return {
        "format": FORMAT,
        "note": (
            "Exhaustive BFS of each preset with symmetry reduction on (as `parsync check`). "
            "Counts and verdicts are compared by `parsync manifest --check` and "
            "tests/test_spec.py; seconds are information only. Regenerate with "
            f"`{REGENERATE}`."
        ),
        "spec_hash": before,
        "spec_hash_method": (
            "sha256 over, for each file of spec_sources in order: its path, NUL, its text "
            "with LF line endings, NUL"
        ),
        "spec_sources": list(SPEC_SOURCES),
        "tools": tool_versions(),
        "timing_machine": platform.machine(),
        "symmetry": True,
        "presets": entries,
        "contract": contract,
        "liveness": liveness,
    }


def _liveness_by_default(name: str) -> bool:
    from parsync.engines.liveness import LIVENESS_BY_DEFAULT

    return LIVENESS_BY_DEFAULT.get(name, False)


def run_liveness(
    name: str,
    *,
    max_seconds: float | None,
    progress: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """PS-L1..L3 on one preset's scope (finite workload, default fairness); its entry.
    Ctrl-C raises KeyboardInterrupt, as in :func:`run_preset`."""
    from parsync.engines.liveness import LIVENESS_IDS, check_liveness

    cfg = get_preset(name).config
    r = check_liveness(ParSyncModel(cfg), max_seconds=max_seconds, progress=progress)
    if r.stop_reason.startswith("interrupted"):
        raise KeyboardInterrupt
    if r.verdict == "incomplete":
        return omitted_entry(cfg.describe(), r.stop_reason, r.seconds, r.states, 0)
    return {
        "config": cfg.describe(),
        "workload": "finite",
        "fairness": r.fairness,
        "properties": list(LIVENESS_IDS),
        "verdict": r.verdict,
        "violated": sorted(r.violations),
        "states": r.states,
        "transitions": r.transitions,
        "fair_components": r.fair_components,
        "seconds": round(r.seconds, 1),  # information only
    }


def merge(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` with the preset entries of ``old`` that ``new`` did not recompute, kept.

    Entries with counts are kept only while the spec hash is unchanged: counts
    computed from other sources would be stale numbers presented as current.
    Omitted entries (no counts) are kept, while the preset's config is unchanged,
    until the preset is tried again.
    """
    if old is None:
        return new
    same = old.get("spec_hash") == new["spec_hash"]
    entries = dict(new["presets"])
    for name, e in old.get("presets", {}).items():
        if name in entries or name not in PRESETS:
            continue
        if e.get("config") != PRESETS[name].config.describe():
            continue
        if same or "omitted" in e:
            entries[name] = e
    order = [n for n in PRESETS if n in entries]
    contract = dict(new.get("contract", {}))
    for name, e in old.get("contract", {}).items():
        if name in contract or name not in CONTRACT_PRESETS:
            continue
        if e.get("config") != PRESETS[name].config_for("contract").describe():
            continue
        if same or "omitted" in e:
            contract[name] = e
    live = dict(new.get("liveness", {}))
    for name, e in old.get("liveness", {}).items():
        if name not in live and name in PRESETS and same:
            live[name] = e
    kept = {"tlc": old["tlc"]} if "tlc" in old and "tlc" not in new else {}
    return {
        **new,
        **kept,
        "presets": {n: entries[n] for n in order},
        "contract": {n: contract[n] for n in CONTRACT_PRESETS if n in contract},
        "liveness": {n: live[n] for n in PRESETS if n in live},
    }


def load(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    """The committed manifest; raises OSError / ValueError with a readable message."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} document")
    return doc


def dump(doc: dict[str, Any], path: Path = DEFAULT_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def recorded(doc: dict[str, Any]) -> list[str]:
    """Presets the manifest records with counts (not omitted)."""
    return [n for n, e in doc.get("presets", {}).items() if "omitted" not in e]


def compare_hash(committed: dict[str, Any]) -> list[str]:
    """One line if the manifest was generated from other protocol sources."""
    current = spec_hash()
    if committed.get("spec_hash") == current:
        return []
    return [
        f"spec_hash: manifest {committed.get('spec_hash')}, current sources {current} "
        f"(the model sources changed; regenerate with `{REGENERATE}`)"
    ]


def compare_entry(name: str, committed: dict[str, Any] | None, fresh: dict[str, Any]) -> list[str]:
    """Differences in counts/verdicts of one preset, one line each (empty: equal)."""
    if committed is None:
        return [f"{name}: not in the manifest (add it with `{REGENERATE} --preset {name}`)"]
    if "omitted" in committed:
        return []  # nothing pinned to compare against
    if "omitted" in fresh:
        return [f"{name}: {fresh['omitted']}"]
    out = []
    for k in COMPARED_FIELDS:
        if committed.get(k) != fresh.get(k):
            out.append(f"{name}.{k}: manifest {committed.get(k)!r}, recomputed {fresh.get(k)!r}")
    return out
